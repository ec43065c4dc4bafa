; The benchmark guest (npm run bench). A boot sector whose first bytes after the jump hold
; the workload (MODE) and the iteration count (COUNT); the bench writes them before it lets the
; guest run (in hvmon through the monitor, under QEMU by patching a copy of the image). Each
; workload runs COUNT iterations and then writes 0 to isa-debug-exit at port 0xf4.
; It runs the same under hvmon's built-in loader and under any BIOS (it sets up its own state).
;
;   MODE 0  16-bit ALU loop: load, add, xor, store, dec, jnz
;   MODE 1  the same loop in 32-bit protected mode (flat segments, no paging)
;   MODE 2  OUT to the PIC's IMR (in-core device)      MODE 3  IN from the PIC's IMR
;   MODE 4  OUT to the UART's scratch register (daemon) MODE 5  IN from the UART's scratch register
;   MODE 6  MMIO read of VGA memory (daemon, synchronous)
;   MODE 7  MMIO write of VGA memory (daemon, posted through the buffered ring)
;   MODE 8  REP STOSW over the 80x25 text screen in VGA memory (2000 posted writes per iteration)

bits 16
org 0x7c00

start:
    jmp short main
    nop
MODE:  dd 0                 ; 7c03
COUNT: dd 1000              ; 7c07

main:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    mov ecx, [COUNT]
    mov ax, [MODE]
    cmp ax, 0
    je alu16
    cmp ax, 1
    je alu32
    cmp ax, 2
    je out_pic
    cmp ax, 3
    je in_pic
    cmp ax, 4
    je out_uart
    cmp ax, 5
    je in_uart
    cmp ax, 6
    je mmio_read
    cmp ax, 7
    je mmio_write
    cmp ax, 8
    je screen_clear
    jmp done

alu16:
    mov bx, 0x1234
    mov si, 0x8000
.loop:
    mov ax, [si]
    add ax, bx
    xor ax, 0x5a5a
    mov [si], ax
    dec ecx
    jnz .loop
    jmp done

out_pic:
    mov al, 0xff
.loop:
    out 0x21, al
    dec ecx
    jnz .loop
    jmp done

in_pic:
.loop:
    in al, 0x21
    dec ecx
    jnz .loop
    jmp done

out_uart:
    mov dx, 0x3ff
    mov al, 0x55
.loop:
    out dx, al
    dec ecx
    jnz .loop
    jmp done

in_uart:
    mov dx, 0x3ff
.loop:
    in al, dx
    dec ecx
    jnz .loop
    jmp done

mmio_read:
    mov ax, 0xb800
    mov es, ax
.loop:
    mov al, [es:0x100]
    dec ecx
    jnz .loop
    jmp done

mmio_write:
    mov ax, 0xb800
    mov es, ax
    mov ax, 0x0741
.loop:
    mov [es:0x100], ax
    dec ecx
    jnz .loop
    jmp done

screen_clear:
    mov ebp, ecx
    mov ax, 0xb800
    mov es, ax
    mov ax, 0x0720
    cld
.loop:
    xor di, di
    mov cx, 2000
    rep stosw
    dec ebp
    jnz .loop
    jmp done

alu32:
    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x08:pm_entry

bits 32
pm_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7c00
    mov ebx, 0x12345678
    mov esi, 0x8000
.loop:
    mov eax, [esi]
    add eax, ebx
    xor eax, 0x5a5a5a5a
    mov [esi], eax
    dec ecx
    jnz .loop
    xor al, al
    out 0xf4, al
.hang:
    hlt
    jmp .hang

bits 16
done:
    xor al, al
    out 0xf4, al
.hang:
    hlt
    jmp .hang

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff   ; 08: code, flat 4 GiB, 32-bit
    dq 0x00cf92000000ffff   ; 10: data, flat 4 GiB
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt

times 510 - ($ - $$) db 0
dw 0xaa55
