; Less common paths, each block hashed (registers, flags, a window of memory) and printed:
; real mode (IVT INT/IRET, far CALL/RET, PUSHF/POPF, big real mode), then in protected
; mode ENTER/LEAVE with nesting levels, PUSHA/POPA in both sizes, string instructions with
; both address sizes and directions, LOOP/JCXZ on CX and ECX, XLAT, BOUND, a 16-bit code
; segment reached by far CALL, and memory-operand shifts.
%define REAL_MODE_TESTS
%include "common.inc"

%define HASH   0xB004
%define AREA   0x60000          ; scratch memory for the blocks (64 KiB)

; Hash the 8 registers, the arithmetic flags and AREA[0..0x100) into HASH, then print it.
%macro REPORT 1
    call hashregs
    PRINT %1
    PRINT " "
    HEX [HASH], 8
    NL
%endmacro

main32:
    xor eax, eax                ; EDX still holds the reset signature, which is model-specific
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    xor esi, esi
    xor edi, edi
    xor ebp, ebp
    ; Real-mode results were left at 0xB100 by the real-mode part (see rm_tests).
    PRINT "real mode: "
    HEX [0xb100], 8
    PRINT " "
    HEX [0xb104], 8
    PRINT " "
    HEX [0xb108], 8
    NL
    call fill

    ; ---- ENTER / LEAVE ----
    mov esp, 0x7000
    mov ebp, 0x7100
    mov dword [0x70fc], 0x11111111
    mov dword [0x70f8], 0x22222222
    enter 0x20, 0
    mov [AREA], esp
    mov [AREA + 4], ebp
    leave
    enter 0x10, 3
    mov [AREA + 8], esp
    mov [AREA + 12], ebp
    mov eax, [esp + 0x10]
    mov [AREA + 16], eax
    leave
    o16 enter 8, 2
    mov [AREA + 20], esp
    o16 leave
    mov [AREA + 24], esp
    mov [AREA + 28], ebp
    mov esi, 0x6ff0
    mov edi, 0x7000
    xor ecx, ecx
    mov ecx, 0x40
.copy:                          ; the stack area enters the hash through AREA
    mov al, [esi]
    mov [AREA + 0x40 + ecx], al
    inc esi
    loop .copy
    mov esp, STACK0
    REPORT "enter/leave"

    ; ---- PUSHA / POPA ----
    call fill
    mov eax, 0xa
    mov ebx, 0xb
    mov ecx, 0xc
    mov edx, 0xd
    mov esi, 0x51
    mov edi, 0xd1
    mov ebp, 0xb9
    mov esp, 0x7000
    pushad
    o16 pusha
    mov [AREA], esp
    mov eax, [0x7000 - 4]
    mov [AREA + 4], eax
    mov eax, [0x7000 - 32 - 8]
    mov [AREA + 8], eax
    o16 popa
    popad
    mov [AREA + 12], esp
    mov esp, STACK0
    REPORT "pusha/popa"

    ; ---- string instructions ----
    call fill
    cld
    mov esi, AREA
    mov edi, AREA + 0x80
    mov ecx, 0x23
    rep movsb
    std
    mov esi, AREA + 0x3e
    mov edi, AREA + 0xfe
    mov ecx, 0x0f
    rep movsw
    cld
    mov edi, AREA + 0x10
    mov eax, 0x5a5a5a5a
    mov ecx, 3
    rep stosd
    ; 16-bit addressing in 32-bit code: SI, DI, CX only (the high halves stay)
    mov esi, 0x12340000 + (AREA & 0xffff)
    mov edi, 0x56780000 + ((AREA + 0x40) & 0xffff)
    mov ecx, 0xabcd0004
    a16 rep movsb               ; DS:SI -> ES:DI with SI, DI, CX (base 0: low 64 KiB)
    push ecx
    push esi
    push edi
    mov esi, AREA
    mov edi, AREA + 1
    mov ecx, 0x20
    repe cmpsb
    pushfd
    pop edx
    and edx, 0x8d5
    mov [AREA + 0xf0], edx
    mov [AREA + 0xf4], ecx
    mov edi, AREA
    mov al, 0x5a
    mov ecx, 0x100
    repne scasb
    mov [AREA + 0xf8], ecx
    mov [AREA + 0xfc], edi
    pop edi
    pop esi
    pop ecx
    REPORT "strings"

    ; ---- LOOP / JCXZ with both address sizes ----
    call fill
    mov ecx, 0x10005
    xor eax, eax
.l1:
    inc eax
    a16 loop .l1                ; uses CX: 5 rounds, ECX = 0x10000
    mov ebx, ecx
    mov ecx, 3
    xor edx, edx
.l2:
    inc edx
    cmp edx, 2
    loopne .l2                  ; stops when EDX = 2
    mov esi, ecx
    xor ecx, ecx
    mov cx, 0
    jecxz .z1
    mov edi, 1
    jmp .z2
.z1:
    mov edi, 2
.z2:
    mov ecx, 0x10000
    a16 jcxz .z3
    or edi, 4
.z3:
    REPORT "loop/jcxz"

    ; ---- XLAT, BOUND, LEA ----
    call fill
    mov ebx, AREA
    mov al, 0x33
    xlatb
    mov ecx, eax
    mov dword [AREA + 0x10], -5
    mov dword [AREA + 0x14], 5
    mov edx, 3
    bound edx, [AREA + 0x10]
    lea esi, [ebx + edx*8 - 7]
    lea di, [bx + 0x1234]
    REPORT "xlat/bound/lea"

    ; ---- a 16-bit code segment through a far call ----
    call fill
    mov eax, 0x12345678
    call SEL_CODE16:(code16 - ROM)
    REPORT "16-bit code"

    ; ---- shifts and rotates on memory ----
    call fill
    mov cl, 5
    shl dword [AREA], cl
    sar word [AREA + 4], 3
    rcl byte [AREA + 6], 1
    ror dword [AREA + 8], 31
    shld [AREA + 12], eax, 7
    shrd [AREA + 16], ebx, cl
    not dword [AREA + 20]
    neg word [AREA + 24]
    inc byte [AREA + 26]
    xadd [AREA + 28], eax
    REPORT "memory operands"

    PRINT "done"
    NL
    jmp exit

bits 16
rm_tests:                       ; called from common.inc before protected mode (DS = 0)
    mov word [0x40 * 4], rm_int40 - ROM
    mov word [0x40 * 4 + 2], 0xf000
    mov ax, 0x1111
    stc
    int 0x40                    ; through the IVT; IRET restores CF
    pushf
    pop bx
    mov [0xb100], ax
    mov [0xb102], bx
    call 0xf000:(rm_far - ROM)
    mov [0xb104], cx
    push word 0x7002            ; NT and IOPL 3: a 386 keeps them in real mode
    popf
    pushf
    pop ax
    mov [0xb106], ax
    push word 0x0002
    popf
    ; Big real mode: load DS in protected mode, come back, use a 32-bit offset. (The RAM
    ; copy of the GDT does not exist yet: use the ROM one.)
[warning -number-overflow]     ; a forward reference NASM sizes before it knows it
    o32 lgdt [cs:rm_gdtr - ROM]
[warning +number-overflow]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    mov bx, SEL_DATA32
    mov ds, bx
    and al, 0xfe
    mov cr0, eax
    xor bx, bx
    mov ds, bx
    mov dword [dword 0x54321], 0xfeedbeef
    mov eax, [dword 0x54321]
    mov [0xb108], eax
    ret
rm_gdtr:
    dw gdt_rom_end - gdt_rom - 1
    dd gdt_rom
rm_int40:
    add ax, 0x1111
    iret
rm_far:
    mov cx, 0xbeef
    retf

code16:                         ; 16-bit protected mode: o32 where 32 bits are meant
    mov bx, 0x4321
    add ax, bx
    push word 0x7777
    pop cx
    o32 retf

bits 32
fill:                           ; AREA[i] = i * 13 + 7
    push eax
    push ecx
    xor ecx, ecx
.f:
    mov al, cl
    imul eax, eax, 13
    add al, 7
    mov [AREA + ecx], al
    inc ecx
    cmp ecx, 0x100
    jb .f
    pop ecx
    pop eax
    ret

hashregs:                       ; HASH <- mix(all GPRs but ESP, flags & 0x8d5, AREA[0..0x100))
    pushfd
    pushad
    mov ebp, esp
    mov dword [HASH], 0x811c9dc5
    mov ecx, 0
.regs:
    cmp ecx, 3                  ; skip the pushed ESP
    je .skip
    mov eax, [ebp + ecx * 4]
    call mixeax
.skip:
    inc ecx
    cmp ecx, 8
    jb .regs
    mov eax, [ebp + 32]
    and eax, 0x8d5
    call mixeax
    xor ecx, ecx
.mem:
    mov eax, [AREA + ecx]
    call mixeax
    add ecx, 4
    cmp ecx, 0x100
    jb .mem
    popad
    popfd
    ret

mixeax:
    push edx
    mov edx, [HASH]
    rol edx, 5
    xor edx, eax
    imul edx, edx, 0x01000193
    mov [HASH], edx
    pop edx
    ret

%include "tail.inc"
