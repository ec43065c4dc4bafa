; prot32: the gdb stub's protected-mode test guest. A boot sector that loads a flat GDT,
; enters 32-bit protected mode, builds page tables and turns paging on, then counts forever
; in a dword that lives at a linear address which is NOT its physical address: linear
; 00400000h is mapped to physical 00020000h. What gdb reads at 0x400000 therefore went
; through the guest's page tables. Each time the low 16 bits of the count wrap it writes a
; '*' to COM1.
;
; Memory: page directory at 10000h, page table 0 (identity, first 4 MiB) at 11000h,
; page table 1 (linear 4 MiB..8 MiB) at 12000h with one page: 400000h -> 20000h.
;
; Fixed addresses, for the tests (test/gdb/gdb.test.ts):
;   7CC0h   main     the top of the counting loop (32-bit code, paging on)
;   7CC6h            the instruction after the increment (test)
;   7CD5h   tick     out dx, al to COM1 (port 3F8h)
;   400000h counter  (linear; physical 20000h)
;
; Build: nasm -f bin -o prot32.img prot32.asm

bits 16
org 0x7c00

COM1        equ 0x3f8
PD          equ 0x10000
PT0         equ 0x11000
PT1         equ 0x12000
DATA_PHYS   equ 0x20000
COUNTER     equ 0x400000

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    lgdt [gdt_desc]
    mov eax, cr0
    or eax, 1                   ; CR0.PE
    mov cr0, eax
    jmp 0x08:pm_entry

bits 32
pm_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, 0x7c00
    ; The page directory and both page tables, cleared.
    mov edi, PD
    mov ecx, 3 * 1024
    xor eax, eax
    rep stosd
    mov dword [PD + 0], PT0 | 3     ; present, writable
    mov dword [PD + 4], PT1 | 3
    ; Page table 0: identity map of the first 4 MiB.
    mov edi, PT0
    mov eax, 3
    mov ecx, 1024
.fill:
    stosd
    add eax, 0x1000
    loop .fill
    ; Page table 1: linear 400000h is physical 20000h.
    mov dword [PT1], DATA_PHYS | 3
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000          ; CR0.PG
    mov cr0, eax
    mov dx, COM1
    jmp main

    times 0xc0 - ($ - $$) db 0x90
main:                           ; 7CC0h
    inc dword [COUNTER]         ; 6 bytes
    test dword [COUNTER], 0xffff ; 7CC6h
    jnz main
    mov al, '*'
    nop
tick:                           ; 7CD5h
    out dx, al
    jmp main

gdt:
    dq 0                        ; null
    dq 0x00cf9a000000ffff       ; 08h: code, base 0, 4 GiB, 32-bit
    dq 0x00cf92000000ffff       ; 10h: data, base 0, 4 GiB
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt

    times 510 - ($ - $$) db 0
    dw 0xaa55
