; Virtual-8086 mode: entered by IRETD with VM=1; the TSS I/O permission bitmap decides port
; access (also at IOPL 3), IOPL-sensitive instructions fault at IOPL 0 and work at IOPL 3,
; INT n goes through the IDT (to a 32-bit ring-0 handler, segment registers pushed), and
; real-mode style addressing. The V86 code runs from the ROM at F000:xxxx.
%include "common.inc"

%define TSSIO       0x10000     ; TSS with an I/O bitmap at +0x68
%define SEL_TSSIO   0x40

%macro TEST 1
    PRINT %1
    PRINT ": "
%endmacro

%macro V86 2                    ; entry label, extra EFLAGS bits
    push dword 0                ; GS
    push dword 0                ; FS
    push dword 0                ; DS
    push dword 0                ; ES
    push dword 0                ; SS
    push dword 0x7000           ; SP
    push dword 0x20002 | %2     ; VM
    push dword 0xf000           ; CS
    push dword (%1 - ROM)
    iretd
%endmacro

%macro FRAME 0                  ; what the CPU pushed besides CS:EIP
    PRINT "  eflags="
    HEX [EXC + 16], 8
    PRINT " ss:sp="
    HEX [EXC + 24], 4
    PRINT ":"
    HEX [EXC + 20], 8
    PRINT " es="
    HEX [EXC + 28], 4
    PRINT " ds="
    HEX [EXC + 32], 4
    PRINT " now ds="
    mov eax, ds
    HEX eax, 4
    NL
%endmacro

main32:
    ; TSS with a bitmap: everything denied but COM1 (0x3F8-0x3FF) and 0x80.
    mov edi, TSSIO
    xor eax, eax
    mov ecx, 0x68 / 4
    rep stosd
    mov dword [TSSIO + 4], STACK0
    mov dword [TSSIO + 8], SEL_DATA32
    mov word [TSSIO + 0x66], 0x68
    mov edi, TSSIO + 0x68
    mov al, 0xff
    mov ecx, 0x2000 + 1
    rep stosb
    mov byte [TSSIO + 0x68 + 0x3f8 / 8], 0
    and byte [TSSIO + 0x68 + 0x80 / 8], 0xfe
    mov dword [GDT + SEL_TSSIO], ((TSSIO & 0xffff) << 16) | 0x2068
    mov dword [GDT + SEL_TSSIO + 4], 0x00008900 | (TSSIO >> 16)
    mov ax, SEL_TSSIO
    ltr ax

    TEST "allowed port, then int3"
    SET_RESUME .t1
    V86 v_out80, 0
.t1:
    FRAME
    TEST "denied port"
    SET_RESUME .t2
    V86 v_in81, 0
.t2:
    TEST "word access straddling into a denied port"
    SET_RESUME .t3
    V86 v_in3ff, 0
.t3:
    TEST "serial from V86"
    SET_RESUME .t4
    V86 v_hello, 0
.t4:
    TEST "cli at IOPL 0"
    SET_RESUME .t5
    V86 v_cli, 0
.t5:
    TEST "pushf at IOPL 0"
    SET_RESUME .t6
    V86 v_pushf, 0
.t6:
    TEST "int 21h at IOPL 0"
    SET_RESUME .t7
    V86 v_int21, 0
.t7:
    TEST "iret at IOPL 0"
    SET_RESUME .t8
    V86 v_iret, 0
.t8:
    TEST "hlt"
    SET_RESUME .t9
    V86 v_hlt, 0
.t9:
    TEST "IOPL 3: cli, sti, pushf, int 40h"
    SET_RESUME .t10
    V86 v_iopl3, 0x3000
.t10:
    FRAME
    PRINT "  pushed flags "
    HEX [0x7000 - 2], 4
    NL
    TEST "IOPL 3 does not open the bitmap"
    SET_RESUME .t11
    V86 v_in81, 0x3000
.t11:
    TEST "segment arithmetic"
    SET_RESUME .t12
    V86 v_mem, 0
.t12:
    PRINT "  [12350]="
    movzx eax, byte [0x12350]
    HEX eax, 2
    PRINT " [ffff0 via f000:fff0]="
    HEX [0x6000], 8
    NL
    TEST "mov cr0 in V86"
    SET_RESUME .t13
    V86 v_cr0, 0
.t13:
    PRINT "done"
    NL
    jmp exit

bits 16
v_out80:
    mov al, 0x42
    out 0x80, al
    int3
v_in81:
    in al, 0x81
    int3
v_in3ff:
    mov dx, 0x3ff
    in ax, dx
    int3
v_hello:
    mov si, v_msg - ROM
.next:
    cs lodsb
    test al, al
    jz .done
    mov ah, al
    mov dx, 0x3fd
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov al, ah
    mov dx, 0x3f8
    out dx, al
    jmp .next
.done:
    int3
v_msg: db "hi from v86 ", 0
v_cli:
    cli
    int3
v_pushf:
    pushf
    int3
v_int21:
    int 0x21
    int3
v_iret:
    iret
v_hlt:
    hlt
    int3
v_iopl3:
    cli
    sti
    pushf
    int 0x40
v_mem:
    mov ax, 0x1234
    mov ds, ax
    mov byte [0x10], 0x5a
    mov ax, 0xf000
    mov ds, ax
    mov eax, [0xfff0]           ; the reset vector's first bytes, through the ROM
    xor bx, bx
    mov es, bx
    mov [es:0x6000], eax
    int3
v_cr0:
    mov eax, cr0
    int3
bits 32

%include "tail.inc"
