; Task switches through TSS descriptors and task gates: JMP (busy bits move, no nesting),
; CALL (NT and the back link), IRET back through the link, INT n via a task gate, an
; exception via a task gate with its error code pushed on the new task's stack, a 16-bit
; (286) TSS, and the checks that refuse a busy TSS.
%include "common.inc"

%define TSSB        0x3100
%define TSSC        0x3200
%define TSSD        0x3300
%define TSS16       0x3400
%define SEL_TSSB    0x40
%define SEL_TSSC    0x48
%define SEL_TSSD    0x50
%define SEL_TSS16   0x58
%define SAVE        0xB000

%macro TEST 1
    PRINT %1
    PRINT ": "
%endmacro

%macro TSSDESC 2                ; selector, base (limit 0x67, 32-bit available TSS)
    mov dword [GDT + %1], ((%2 & 0xffff) << 16) | 0x67
    mov dword [GDT + %1 + 4], 0x00008900 | ((%2 >> 16) & 0xff)
%endmacro

%macro TSSINIT 3                ; base, entry, stack top
    mov edi, %1
    xor eax, eax
    mov ecx, 0x68 / 4
    rep stosd
    mov dword [%1 + 0x20], %2           ; EIP
    mov dword [%1 + 0x24], 2            ; EFLAGS
    mov dword [%1 + 0x38], %3           ; ESP
    mov dword [%1 + 0x48], SEL_DATA32   ; ES
    mov dword [%1 + 0x4c], SEL_CODE32   ; CS
    mov dword [%1 + 0x50], SEL_DATA32   ; SS
    mov dword [%1 + 0x54], SEL_DATA32   ; DS
    mov dword [%1 + 0x58], SEL_DATA32   ; FS
    mov dword [%1 + 0x5c], SEL_DATA32   ; GS
    mov word [%1 + 0x66], 0x68
%endmacro

%macro TYPES 0                  ; the type nibbles of TSS0, B, C, D descriptors
    PRINT "  types "
    movzx eax, byte [GDT + SEL_TSS0 + 5]
    HEX eax, 2
    movzx eax, byte [GDT + SEL_TSSB + 5]
    HEX eax, 2
    movzx eax, byte [GDT + SEL_TSSC + 5]
    HEX eax, 2
    movzx eax, byte [GDT + SEL_TSSD + 5]
    HEX eax, 2
    NL
%endmacro

main32:
    mov esi, IDT                ; keep a copy without task gates at 0x4000
    mov edi, 0x4000
    mov ecx, 256 * 8
    rep movsb
    TSSDESC SEL_TSSB, TSSB
    TSSDESC SEL_TSSC, TSSC
    TSSDESC SEL_TSSD, TSSD
    ; 16-bit TSS: limit 0x2b, type 1
    mov dword [GDT + SEL_TSS16], ((TSS16 & 0xffff) << 16) | 0x2b
    mov dword [GDT + SEL_TSS16 + 4], 0x00008100
    ; IDT 0x50: task gate to TSS C; IDT 13 (#GP): task gate to TSS D.
    mov dword [IDT + 0x50 * 8], SEL_TSSC << 16
    mov dword [IDT + 0x50 * 8 + 4], 0x0000e500
    mov dword [IDT + 13 * 8], SEL_TSSD << 16
    mov dword [IDT + 13 * 8 + 4], 0x00008500

    TEST "jmp to a TSS"
    TSSINIT TSSB, task_b_jmp, 0x7400
    mov eax, 0x11111111
    mov ebx, 0x22222222
    jmp SEL_TSSB:0
.back1:
    PRINT "  back: eax="
    HEX eax, 8
    PRINT " ebx="
    HEX ebx, 8
    PRINT " tr="
    str ax
    HEX eax, 4
    pushfd
    pop eax
    PRINT " nt="
    shr eax, 14
    and eax, 1
    HEX eax, 1
    NL
    TYPES

    TEST "call a TSS"
    TSSINIT TSSB, task_b_call, 0x7400
    call SEL_TSSB:0
    PRINT "  returned, nt="
    pushfd
    pop eax
    shr eax, 14
    and eax, 1
    HEX eax, 1
    PRINT " eip saved in B="
    HEX [TSSB + 0x20], 8
    NL
    TYPES

    TEST "int via task gate"
    TSSINIT TSSC, task_c, 0x7800
    mov ecx, 0xc0ffee
    int 0x50
    PRINT "  returned ecx="
    HEX ecx, 8
    NL
    TYPES

    TEST "#GP via task gate"
    TSSINIT TSSD, task_d, 0x7c00
    mov dword [TSSD + 0x24], 2
    mov ax, 0x1f8
    mov es, ax                  ; #GP(0x1f8) -> task D
.after_gp:
    PRINT "  resumed"
    NL
    TYPES

    TEST "jmp to a busy TSS"
    SET_RESUME .t5
    lidt [idt_no_tasks]         ; plain handlers again (no task gate for #GP)
    jmp SEL_TSS0:0
.t5:
    TEST "16-bit TSS"
    mov edi, TSS16
    xor eax, eax
    mov ecx, 0x2c / 4
    rep stosd
    mov word [TSS16 + 0x0e], task_16 & 0xffff  ; IP (the task jumps on to the ROM)
    mov word [TSS16 + 0x10], 2                  ; FLAGS
    mov word [TSS16 + 0x1a], 0x7f00             ; SP
    mov word [TSS16 + 0x22], SEL_DATA32         ; ES
    mov word [TSS16 + 0x24], SEL_CODE32         ; CS
    mov word [TSS16 + 0x26], SEL_DATA32         ; SS
    mov word [TSS16 + 0x28], SEL_DATA32         ; DS
    mov esi, task16_src                         ; a far jump to the ROM, copied to task_16
    mov edi, task_16
    mov ecx, 7
    rep movsb
    mov edx, 0xdddd1234
    call SEL_TSS16:0
    PRINT "  back from 16-bit task, edx="
    HEX edx, 8
    NL
    PRINT "done"
    NL
    jmp exit

task_16     equ 0x6000
task16_src:
    jmp SEL_CODE32:task_16_body

task_16_body:
    PRINT "  in 16-bit task: tr="
    str ax
    HEX eax, 4
    PRINT " edx="
    HEX edx, 8
    PRINT " link="
    HEX [TSS16], 4
    NL
    mov edx, 0x99
    iretd

task_b_jmp:
    PRINT "  in B: eax="
    HEX eax, 8
    PRINT " tr="
    str ax
    HEX eax, 4
    PRINT " saved eax in TSS0="
    HEX [TSS0 + 0x28], 8
    PRINT " link="
    HEX [TSSB], 4
    NL
    TYPES
    mov eax, 0x33333333
    jmp SEL_TSS0:0              ; back: TSS0 resumes after its far jump

task_b_call:
    PRINT "  in B: link="
    HEX [TSSB], 4
    pushfd
    pop eax
    PRINT " nt="
    shr eax, 14
    and eax, 1
    HEX eax, 1
    NL
    TYPES
    iretd                       ; NT=1: back to the caller through the link

task_c:
    PRINT "  in C: ecx="
    HEX ecx, 8
    PRINT " link="
    HEX [TSSC], 4
    PRINT " esp="
    HEX esp, 8
    NL
    mov ecx, 0x12
    iretd

task_d:
    PRINT "  in D: error code on stack="
    pop eax
    HEX eax, 8
    PRINT " esp="
    HEX esp, 8
    PRINT " faulting eip in TSS0="
    HEX [TSS0 + 0x20], 8
    NL
    mov dword [TSS0 + 0x20], main32.after_gp    ; skip the faulting instruction
    mov word [TSS0 + 0x48], SEL_DATA32          ; and give ES a usable selector
    iretd

idt_no_tasks:
    dw 256 * 8 - 1
    dd 0x4000                   ; the copy made at the start of main32

%include "tail.inc"
