; Every exception class in 32-bit protected mode at CPL 0: the vector, error code and the
; CS:EIP the CPU pushed (faults point at the instruction, traps after it), #DF, and the
; debug registers' instruction (fault) and data (trap) breakpoints.
; Left out because QEMU differs from a 386 there (the unit tests cover them): ICEBP (F1),
; which QEMU's default CPU treats as #UD, and data-segment write rights, which TCG skips.
%include "common.inc"

%define SEL_NPDATA  0x40        ; data segment, not present
%define SEL_BADTSS  0x48        ; TSS whose limit is too small

%macro TEST 1
    PRINT %1
    PRINT ": "
%endmacro

%macro NOFAULT 0
    PRINT "no exception"
    NL
%endmacro

main32:
    ; Extra descriptors.
    mov dword [GDT + SEL_NPDATA], 0x0000ffff
    mov dword [GDT + SEL_NPDATA + 4], 0x00cf1300        ; P=0
    mov dword [GDT + SEL_BADTSS], 0x30000020            ; base 0x3300, limit 0x20
    mov dword [GDT + SEL_BADTSS + 4], 0x00008900

    TEST "DE"
    SET_RESUME .de
    mov eax, 1
    xor edx, edx
    xor ecx, ecx
    div ecx
    NOFAULT
.de:
    TEST "DE idiv overflow"
    SET_RESUME .de2
    mov eax, 0                  ; 2^32 / 1 does not fit (QEMU 7.2 itself dies on
    mov edx, 1                  ; -2^63 / -1, so that case is left to the unit tests)
    mov ecx, 1
    idiv ecx
    NOFAULT
.de2:
    TEST "DB single-step"
    SET_RESUME .db
    pushfd
    or dword [esp], 0x100
    popfd
    nop                         ; the trap comes after this one
    NOFAULT
.db:
    TEST "BP"
    SET_RESUME .bp
    int3
    NOFAULT
.bp:
    TEST "OF"
    SET_RESUME .of
    mov al, 0x7f
    add al, 1
    into
    NOFAULT
.of:
    TEST "OF not taken"
    SET_RESUME .of2
    mov al, 1
    add al, 1
    into
    NOFAULT
.of2:
    TEST "BR"
    SET_RESUME .br
    mov eax, 10
    bound eax, [bounds]
    NOFAULT
.br:
    TEST "UD ud2"
    SET_RESUME .ud
    ud2
    NOFAULT
.ud:
    TEST "UD lock nop"
    SET_RESUME .ud2
    db 0xf0, 0x90
    NOFAULT
.ud2:
    TEST "UD mov cs"
    SET_RESUME .ud3
    db 0x8e, 0xc8
    NOFAULT
.ud3:
    TEST "UD lea reg"
    SET_RESUME .ud4
    db 0x8d, 0xc0
    NOFAULT
.ud4:
    TEST "NM esc with EM"
    mov eax, cr0
    or eax, 4                   ; EM
    mov cr0, eax
    SET_RESUME .nm
    fninit
    NOFAULT
.nm:
    mov eax, cr0
    and eax, ~4
    or eax, 0x0a                ; MP, TS
    mov cr0, eax
    TEST "NM wait with MP+TS"
    SET_RESUME .nm2
    wait
    NOFAULT
.nm2:
    clts
    TEST "TS"
    SET_RESUME .ts
    jmp SEL_BADTSS:0
    NOFAULT
.ts:
    TEST "NP"
    SET_RESUME .np
    mov ax, SEL_NPDATA
    mov ds, ax
    NOFAULT
.np:
    TEST "SS"
    SET_RESUME .ss
    mov ax, SEL_NPDATA
    mov ss, ax
    NOFAULT
.ss:
    mov ax, SEL_DATA32
    mov ss, ax
    TEST "GP beyond GDT"
    SET_RESUME .gp
    mov ax, 0x1f8
    mov es, ax
    NOFAULT
.gp:
    TEST "GP code into ss"
    SET_RESUME .gp2
    mov ax, SEL_CODE32
    mov ss, ax
    NOFAULT
.gp2:
    TEST "GP jmp to data"
    SET_RESUME .gp3
    jmp SEL_DATA32:0
    NOFAULT
.gp3:
.gp4:
    TEST "GP null ss"
    SET_RESUME .gp5
    xor eax, eax
    mov ss, ax
    NOFAULT
.gp5:
    TEST "GP lidt from gdt index"
    SET_RESUME .gp6
    mov ax, SEL_TSS0
    mov ds, ax                  ; a system segment
    NOFAULT
.gp6:
    mov ax, SEL_DATA32
    mov ds, ax
    TEST "GP int beyond idt"
    lidt [short_idt]
    SET_RESUME .gp7
    int 0x40                    ; gate 0x40 is beyond the limit: #GP(0x40*8+2)
    NOFAULT
.gp7:
    lidt [idt_ptr]
    TEST "DB instruction breakpoint"
    mov eax, .bp_here
    mov dr0, eax
    mov eax, 0x401              ; L0, execute, 1 byte
    mov dr7, eax
    SET_RESUME .dr1
.bp_here:
    nop
    NOFAULT
.dr1:
    PRINT "  dr6 b0-b3="
    mov eax, dr6
    and eax, 0xf
    HEX eax, 1
    NL
    TEST "DB data breakpoint"
    mov eax, 0x9004
    mov dr1, eax
    mov eax, 0xd00404           ; L1, write, 4 bytes
    mov dr7, eax
    SET_RESUME .dr2
    mov dword [0x9000], 1       ; not covered
    mov dword [0x9004], 2       ; trap after this one
    NOFAULT
.dr2:
    PRINT "  dr6 b0-b3="
    mov eax, dr6
    and eax, 0xf
    HEX eax, 1
    NL
    xor eax, eax
    mov dr7, eax
    TEST "DF"
    ; The #GP gate is not present: #GP -> #NP while delivering it -> #DF.
    and byte [IDT + 13 * 8 + 5], 0x7f
    SET_RESUME .df
    mov ax, 0x1f8
    mov es, ax
    NOFAULT
.df:
    or byte [IDT + 13 * 8 + 5], 0x80
    mov ax, SEL_DATA32
    mov es, ax
    TEST "GP after DF"
    SET_RESUME .end
    mov ax, 0x1f8
    mov es, ax
    NOFAULT
.end:
    PRINT "done"
    NL
    jmp exit

bounds: dd 0, 5
short_idt:
    dw 0x40 * 8 - 1
    dd IDT

%include "tail.inc"
