; Privilege levels: IRET to ring 3, INT n through DPL 3 and DPL 0 gates, privileged
; instructions and IOPL at ring 3, a 32-bit call gate with parameters (stack switch from the
; TSS, parameter copy, RETF n back), RETF to an outer level nulling DS, a conforming code
; segment (CPL unchanged), and a 16-bit call gate.
%include "common.inc"

%define SEL_GATE32  0x43        ; call gate DPL 3 -> SEL_CODE32:gate_target, 2 dword params
%define SEL_CONF    0x48        ; conforming code DPL 0
%define SEL_GATE16  0x53        ; 16-bit call gate DPL 3 -> SEL_CODE32:gate16_target
%define SEL_GATE0   0x5b        ; call gate with DPL 0 (unusable from ring 3)
%define SAVE        0xB000      ; what the ring-3 code and the gate targets record

%macro TEST 1
    PRINT %1
    PRINT ": "
%endmacro

%macro RING3 1
    mov ax, SEL_DATA3
    mov ds, ax
    mov es, ax
    push dword SEL_DATA3
    push dword STACK3
    push dword 0x2
    push dword SEL_CODE3
    push dword %1
    iretd
%endmacro

%macro GATE 4               ; selector, target offset, attributes byte, param count
    mov eax, %2
    mov word [GDT + (%1 & ~7)], ax
    mov word [GDT + (%1 & ~7) + 2], SEL_CODE32
    mov byte [GDT + (%1 & ~7) + 4], %4
    mov byte [GDT + (%1 & ~7) + 5], %3
    shr eax, 16
    mov word [GDT + (%1 & ~7) + 6], ax
%endmacro

main32:
    GATE SEL_GATE32, gate_target, 0xec, 2
    GATE SEL_GATE16, 0x6000, 0xe4, 1       ; a 286 gate holds a 16-bit offset
    ; Below 64 KiB in RAM: the 16-bit gate's target (a far jump to gate16_target) and the
    ; ring-3 caller (16-bit return addresses cannot reach the ROM).
    mov esi, tramp16
    mov edi, 0x6000
    mov ecx, tramp16_end - tramp16
    rep movsb
    mov esi, caller16
    mov edi, 0x6100
    mov ecx, caller16_end - caller16
    rep movsb
    GATE SEL_GATE0, gate_target, 0x8c, 0
    mov dword [GDT + SEL_CONF], 0x0000ffff
    mov dword [GDT + SEL_CONF + 4], 0x00cf9f00         ; conforming, readable, DPL 0
    ; IDT vector 0x31: DPL 0 (INT from ring 3 must #GP)
    mov byte [IDT + 0x31 * 8 + 5], 0x8e

    TEST "iret to ring 3"
    SET_RESUME .t1
    RING3 .r1
.r1:
    mov eax, cs
    mov [SAVE], eax
    mov eax, ss
    mov [SAVE + 4], eax
    pushfd
    pop dword [SAVE + 8]
    int 0x30
.t1:
    PRINT "  cs="
    HEX [SAVE], 4
    PRINT " ss="
    HEX [SAVE + 4], 4
    PRINT " flags="
    HEX [SAVE + 8], 8
    NL

    TEST "int to DPL 0 gate"
    SET_RESUME .t2
    RING3 .r2
.r2:
    int 0x31
    int 0x30
.t2:
    TEST "cli at IOPL 0"
    SET_RESUME .t3
    RING3 .r3
.r3:
    cli
    int 0x30
.t3:
    TEST "hlt"
    SET_RESUME .t4
    RING3 .r4
.r4:
    hlt
    int 0x30
.t4:
    TEST "mov eax, cr0"
    SET_RESUME .t5
    RING3 .r5
.r5:
    mov eax, cr0
    int 0x30
.t5:
    TEST "in at IOPL 0"
    SET_RESUME .t6
    RING3 .r6
.r6:
    in al, 0x80
    int 0x30
.t6:
    TEST "lgdt"
    SET_RESUME .t7
    RING3 .r7
.r7:
    lgdt [0]
    int 0x30
.t7:
    TEST "cli and out at IOPL 3"
    SET_RESUME .t8
    mov ax, SEL_DATA3
    mov ds, ax
    mov es, ax
    push dword SEL_DATA3
    push dword STACK3
    push dword 0x3002           ; IOPL 3
    push dword SEL_CODE3
    push dword .r8
    iretd
.r8:
    cli
    mov al, 0x55
    out 0x80, al
    sti
    int 0x30
.t8:
    TEST "call gate"
    SET_RESUME .t9
    RING3 .r9
.r9:
    mov esi, 0x1111
    mov edi, 0x2222
    push esi
    push edi
    mov [SAVE + 0x10], esp
    call SEL_GATE32:0x12345678      ; the offset is ignored for a gate
    mov [SAVE + 0x14], esp
    mov eax, es
    mov [SAVE + 0x18], eax
    int 0x30
.t9:
    PRINT "  ring-3 esp before "
    HEX [SAVE + 0x10], 8
    PRINT " after "
    HEX [SAVE + 0x14], 8
    PRINT " es after "
    HEX [SAVE + 0x18], 4
    NL
    TEST "call gate DPL 0 from ring 3"
    SET_RESUME .t10
    RING3 .r10
.r10:
    call SEL_GATE0:0
    int 0x30
.t10:
    TEST "16-bit call gate"
    SET_RESUME .t11
    RING3 0x6100
.t11:
    PRINT "  ring-3 esp after "
    HEX [SAVE + 0x14], 8
    NL
    TEST "conforming segment"
    SET_RESUME .t12
    RING3 .r12
.r12:
    call SEL_CONF:conf_target
    int 0x30
.t12:
    PRINT "  cs inside "
    HEX [SAVE + 0x20], 4
    NL
    TEST "far call to DPL 0 code from ring 3"
    SET_RESUME .t13
    RING3 .r13
.r13:
    call SEL_CODE32:conf_target
    int 0x30
.t13:
    TEST "iret to ring 0 from ring 3"
    SET_RESUME .t14
    RING3 .r14
.r14:
    push dword SEL_CODE32
    push dword .t14
    iretd                       ; 3 -> 0 is not allowed: #GP(sel)
.t14:
    PRINT "done"
    NL
    jmp exit

; Ring 0 end of the 32-bit call gate: params at [esp+8] and [esp+12] under CS:EIP, the
; caller's ESP and SS above them.
gate_target:
    mov ebp, esp
    PRINT "  in gate: cs="
    mov eax, cs
    HEX eax, 4
    PRINT " ss:esp="
    mov eax, ss
    HEX eax, 4
    PRINT ":"
    HEX ebp, 8
    PRINT " ret="
    HEX [ebp + 4], 4
    PRINT ":"
    HEX [ebp], 8
    PRINT " p="
    HEX [ebp + 8], 8
    PRINT ","
    HEX [ebp + 12], 8
    PRINT " caller ss:esp="
    HEX [ebp + 20], 4
    PRINT ":"
    HEX [ebp + 16], 8
    NL
    mov ax, SEL_DATA32          ; DPL 0: RETF to ring 3 must null ES
    mov es, ax
    retf 8

bits 32
gate16_target:
    mov ebp, esp
    PRINT "  in 16-bit gate: esp="
    HEX ebp, 8
    PRINT " ret="
    movzx eax, word [ebp + 2]
    HEX eax, 4
    PRINT ":"
    movzx eax, word [ebp]
    HEX eax, 4
    PRINT " p="
    movzx eax, word [ebp + 4]
    HEX eax, 4
    PRINT " caller ss:sp="
    movzx eax, word [ebp + 8]
    HEX eax, 4
    PRINT ":"
    movzx eax, word [ebp + 6]
    HEX eax, 4
    NL
    o16 retf 2

; Copied to RAM (position independent: only absolute far transfers).
tramp16:
    jmp SEL_CODE32:gate16_target
tramp16_end:
caller16:
    push word 0x7777
    call SEL_GATE16:0
    mov [SAVE + 0x14], esp
    int 0x30
caller16_end:

conf_target:
    mov eax, cs
    mov [SAVE + 0x20], eax
    retf

%include "tail.inc"
