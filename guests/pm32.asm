; pm32: 32-bit protected mode with paging, and a ring-3 task in its own address range, to
; show the monitor's `x` (linear, through the page tables) against `xp` (physical), and
; `gva2gpa` / `pagewalk`. docs/walkthrough.md uses it in its second part.
;
; The kernel (ring 0) does what an OS does at boot, in order:
; - enables A20 through port 92h ("fast A20") so that physical addresses above 1 MiB exist;
; - loads a GDT (flat kernel code/data, ring-3 code/data, a TSS) and an IDT (exception
;   stubs for vectors 0-31, a ring-3-callable trap gate at 80h for system calls), sets
;   CR0.PE and far-jumps into 32-bit code;
; - builds two-level page tables (4 KiB pages): the first 4 MiB identity-mapped for the
;   kernel only (U/S = 0; page 0 left unmapped to catch null pointers), and for the task
;       linear 08048000h -> physical 00105000h   code and constants (user, read-only)
;       linear 08049000h -> physical 00106000h   data (user, writable)
;       linear BFFFF000h -> physical 00107000h   stack (user, writable)
;   then loads CR3 and sets CR0.PG and CR0.WP;
; - loads the task register (the TSS gives the ring-0 stack for traps from ring 3) and
;   IRETs to 08048000h at CPL 3 with IOPL 0.
; The task writes through system calls (INT 80h: EAX=1 write(EBX=buffer, ECX=length),
; EAX=2 exit(EBX=status)), stores 600DF00Dh in its data page, then reads the kernel's memory
; at 00007C00h. That is a supervisor page: #PF with error code 5 (user-mode read of a present
; page). The kernel reports the fault (CR2, error code, EIP), ends the task and the guest
; (isa-debug-exit 0; any other exception ends it with 2).
;
; Run: node bin/hvmon.js run guests/pm32.img --display none --device isa-debug-exit,iobase=0xf4,iosize=1

%include "lib/stage1.inc"

SEL_KCODE   equ 0x08
SEL_KDATA   equ 0x10
SEL_UCODE   equ 0x18 | 3
SEL_UDATA   equ 0x20 | 3
SEL_TSS     equ 0x28

PD          equ 0x10000     ; page directory
PT_LOW      equ 0x11000     ; page table for linear 0-4 MiB
PT_USER     equ 0x12000     ; page table for linear 08000000h-083FFFFFh
PT_STACK    equ 0x13000     ; page table for linear BFC00000h-BFFFFFFFh
IDT         equ 0x14000
TSS         equ 0x14800
KSTACK_TOP  equ 0x70000

USER_CODE_VA equ 0x08048000
USER_DATA_VA equ 0x08049000
USER_STACK_VA equ 0xbffff000
USER_CODE_PA equ 0x00105000
USER_DATA_PA equ 0x00106000
USER_STACK_PA equ 0x00107000

PTE_P       equ 0x001       ; present
PTE_RW      equ 0x002       ; writable
PTE_US      equ 0x004       ; user may access

SYS_WRITE   equ 1
SYS_EXIT    equ 2

; A user-space address of something assembled between user_start and user_end.
%define U(x) (USER_CODE_VA + ((x) - user_start))

main:
    call uart_init
    mov byte [vga_attr], 0x1f
    call vga_clear
    mov byte [con_vga], 0       ; the 32-bit kernel has its own console

    in al, 0x92                 ; fast A20: bit 1 on, bit 0 (reset) off
    or al, 0x02
    and al, 0xfe
    out 0x92, al

    cli
    lgdt [gdt_desc]
    mov eax, cr0
    or eax, 1                   ; PE
    mov cr0, eax
    jmp SEL_KCODE:pm_entry

bits 32
pm_entry:
    mov ax, SEL_KDATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, KSTACK_TOP
    mov dword [k_row], 0

    call build_idt
    lidt [idt_desc]
    call build_tss
    call build_page_tables

    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000          ; PG and WP (ring 0 honours read-only pages too)
    mov cr0, eax
    jmp .paged                  ; (the next fetch goes through the page tables)
.paged:
    mov ax, SEL_TSS
    ltr ax

    mov esi, s_banner
    call k_puts
    mov esi, s_task
    call k_puts

    ; Into ring 3: IRET pops EIP, CS, EFLAGS, ESP, SS. IF=0 (no interrupts are set up),
    ; IOPL=0 (the task may not touch I/O ports).
    push dword SEL_UDATA
    push dword USER_STACK_VA + 0xff0
    push dword 0x00000002
    push dword SEL_UCODE
    push dword USER_CODE_VA
    mov ax, SEL_UDATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    iretd

; ---- tables ----

build_idt:
    ; Vectors 0-31: the exception stubs (interrupt gates, DPL 0).
    mov edi, IDT
    xor ecx, ecx
.exc:
    mov eax, [exc_stubs + ecx * 4]
    mov edx, 0x8e00             ; present, DPL 0, 32-bit interrupt gate
    call set_gate
    inc ecx
    cmp ecx, 32
    jb .exc
    ; Vectors 32-255: not present (a stray one raises #GP, which is reported).
.empty:
    mov dword [IDT + ecx * 8], 0
    mov dword [IDT + ecx * 8 + 4], 0
    inc ecx
    cmp ecx, 256
    jb .empty
    ; 80h: system calls, a trap gate that ring 3 may use.
    mov ecx, 0x80
    mov eax, syscall_entry
    mov edx, 0xef00             ; present, DPL 3, 32-bit trap gate
    call set_gate
    ret

; ECX = vector, EAX = handler, EDX = type/attribute word.
set_gate:
    mov [IDT + ecx * 8], ax
    mov word [IDT + ecx * 8 + 2], SEL_KCODE
    mov [IDT + ecx * 8 + 4], dx
    shr eax, 16
    mov [IDT + ecx * 8 + 6], ax
    ret

build_tss:
    mov edi, TSS
    mov ecx, 104 / 4
    xor eax, eax
    rep stosd
    mov dword [TSS + 4], KSTACK_TOP     ; ESP0
    mov dword [TSS + 8], SEL_KDATA      ; SS0
    mov word [TSS + 102], 104           ; I/O map base past the limit: no I/O bitmap
    ret

build_page_tables:
    mov edi, PD                 ; clear the directory and the three tables
    mov ecx, 4 * 1024
    xor eax, eax
    rep stosd
    mov dword [PD + 0 * 4], PT_LOW | PTE_P | PTE_RW
    mov dword [PD + (USER_CODE_VA >> 22) * 4], PT_USER | PTE_P | PTE_RW | PTE_US
    mov dword [PD + (USER_STACK_VA >> 22) * 4], PT_STACK | PTE_P | PTE_RW | PTE_US
    ; 0-4 MiB identity, supervisor only; page 0 stays unmapped.
    mov ecx, 1
.low:
    mov eax, ecx
    shl eax, 12
    or eax, PTE_P | PTE_RW
    mov [PT_LOW + ecx * 4], eax
    inc ecx
    cmp ecx, 1024
    jb .low
    mov dword [PT_USER + ((USER_CODE_VA >> 12) & 0x3ff) * 4], USER_CODE_PA | PTE_P | PTE_US
    mov dword [PT_USER + ((USER_DATA_VA >> 12) & 0x3ff) * 4], USER_DATA_PA | PTE_P | PTE_RW | PTE_US
    mov dword [PT_STACK + ((USER_STACK_VA >> 12) & 0x3ff) * 4], USER_STACK_PA | PTE_P | PTE_RW | PTE_US
    ; The task's frames: its code page, a zeroed data page and a zeroed stack page.
    mov edi, USER_CODE_PA
    mov ecx, 3 * 1024
    xor eax, eax
    rep stosd
    mov esi, user_start
    mov edi, USER_CODE_PA
    mov ecx, user_end - user_start
    rep movsb
    ret

; ---- traps ----

; INT 80h from ring 3. The CPU switched to the TSS's ring-0 stack and saved the task's
; SS:ESP, EFLAGS and CS:EIP there; the data segments still hold the task's selectors.
syscall_entry:
    push ds
    push es
    pushad
    mov bx, SEL_KDATA
    mov ds, bx
    mov es, bx
    mov ebx, [esp + 16]         ; the task's EBX (PUSHAD order: EDI ESI EBP ESP EBX ...)
    cmp eax, SYS_WRITE
    je .write
    cmp eax, SYS_EXIT
    je .exit
    mov dword [esp + 28], -1    ; unknown call: EAX = -1
    jmp .back
.write:
    ; The buffer must lie in the task's part of the address space.
    mov ecx, [esp + 24]         ; the task's ECX
    mov edx, ebx
    add edx, ecx
    jc .fault
    cmp ebx, USER_CODE_VA
    jb .fault
    cmp edx, USER_STACK_VA + 0x1000
    ja .fault
    mov esi, s_task_tag
    call k_puts
    mov esi, ebx
.char:
    jecxz .written
    lodsb
    call k_putc
    dec ecx
    jmp .char
.written:
    mov dword [esp + 28], 0
    jmp .back
.fault:
    mov dword [esp + 28], -14   ; EFAULT
.back:
    popad
    pop es
    pop ds
    iretd
.exit:
    mov esi, s_exited
    call k_puts
    mov eax, ebx
    call k_hex32
    mov al, 10
    call k_putc
    jmp finish

; Exception stubs push an error code where the CPU does not, then the vector.
%macro EXC_NOCODE 1
exc_%1:
    push dword 0
    push dword %1
    jmp exception
%endmacro
%macro EXC_CODE 1
exc_%1:
    push dword %1
    jmp exception
%endmacro
%assign v 0
%rep 32
  %if v == 8 || (v >= 10 && v <= 14) || v == 17
    EXC_CODE v
  %else
    EXC_NOCODE v
  %endif
  %assign v v + 1
%endrep

; [esp] = vector, [esp+4] = error code, [esp+8] = EIP, [esp+12] = CS, ...
exception:
    mov ax, SEL_KDATA
    mov ds, ax
    mov es, ax
    mov eax, [esp]
    cmp eax, 14
    jne .unexpected
    test dword [esp + 12], 3    ; from ring 3?
    jz .unexpected
    mov esi, s_pf
    call k_puts
    mov eax, [esp + 8]
    call k_hex32
    mov esi, s_cr2
    call k_puts
    mov eax, cr2
    call k_hex32
    mov esi, s_error
    call k_puts
    mov eax, [esp + 4]
    call k_dec
    mov esi, s_pf_user          ; bit 2: from user mode
    call k_puts
    mov esi, s_pf_read          ; bit 1: write
    test dword [esp + 4], 2
    jz .rw
    mov esi, s_pf_write
.rw:
    call k_puts
    mov esi, s_pf_notpresent    ; bit 0: protection violation (the page is present)
    test dword [esp + 4], 1
    jz .p
    mov esi, s_pf_present
.p:
    call k_puts
    mov esi, s_killed
    call k_puts
    jmp finish
.unexpected:
    mov esi, s_unexpected
    call k_puts
    mov eax, [esp]
    call k_dec
    mov esi, s_at
    call k_puts
    mov eax, [esp + 12]
    call k_hex16
    mov al, ':'
    call k_putc
    mov eax, [esp + 8]
    call k_hex32
    mov esi, s_error
    call k_puts
    mov eax, [esp + 4]
    call k_hex32
    mov al, 10
    call k_putc
    mov al, 2
    out 0xf4, al
    cli
    hlt

finish:
    mov esi, s_done
    call k_puts
    xor al, al
    out 0xf4, al
    cli
.halt:
    hlt
    jmp .halt

; ---- the kernel's console: COM1 (polled) and VGA text, one line after another ----

k_putc:                         ; AL
    push edx
    push eax
    mov dx, 0x3fd
.wait:
    in al, dx
    test al, 0x20               ; LSR.THRE
    jz .wait
    mov eax, [esp]
    cmp al, 10
    jne .tx
    mov al, 13
    mov dx, 0x3f8
    out dx, al
    mov dx, 0x3fd
.wait2:
    in al, dx
    test al, 0x20
    jz .wait2
    mov eax, [esp]
.tx:
    mov dx, 0x3f8
    out dx, al
    ; VGA: a new line on LF, else a cell in white on blue.
    cmp al, 10
    jne .cell
    inc dword [k_row]
    mov dword [k_col], 0
    jmp .done
.cell:
    cmp dword [k_col], 80       ; a full line wraps
    jb .fits
    inc dword [k_row]
    mov dword [k_col], 0
.fits:
    push ebx
    mov ebx, [k_row]
    imul ebx, 80
    add ebx, [k_col]
    mov ah, 0x1f
    mov [0xb8000 + ebx * 2], ax
    inc dword [k_col]
    pop ebx
.done:
    pop eax
    pop edx
    ret

k_puts:                         ; ESI = NUL-terminated
    push eax
    push esi
.next:
    lodsb
    test al, al
    jz .done
    call k_putc
    jmp .next
.done:
    pop esi
    pop eax
    ret

k_hex32:                        ; EAX
    push eax
    shr eax, 16
    call k_hex16
    pop eax
k_hex16:                        ; AX
    push eax
    mov al, ah
    call k_hex8
    pop eax
k_hex8:                         ; AL
    push eax
    shr al, 4
    call .digit
    pop eax
    push eax
    and al, 0x0f
    call .digit
    pop eax
    ret
.digit:
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    jmp k_putc

k_dec:                          ; EAX, unsigned
    push eax
    push ecx
    push edx
    push ebx
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.emit:
    pop eax
    add al, '0'
    call k_putc
    loop .emit
    pop ebx
    pop edx
    pop ecx
    pop eax
    ret

; ---- the ring-3 task: copied to physical 00105000h, runs at linear 08048000h ----
; Position-dependent references go through U(); jumps and calls are relative anyway.

user_start:
    mov eax, SYS_WRITE
    mov ebx, U(u_hello)
    mov ecx, u_hello_len
    int 0x80
    ; "my segments: cs=XXXX ss=XXXX", built in the data page from the task's own registers.
    mov esi, U(u_segs)
    mov edi, USER_DATA_VA + 0x100
    mov ecx, u_segs_len
    rep movsb
    mov ax, cs
    mov edi, USER_DATA_VA + 0x100 + (u_segs_cs - u_segs)
    call u_hex16_to
    mov ax, ss
    mov edi, USER_DATA_VA + 0x100 + (u_segs_ss - u_segs)
    call u_hex16_to
    mov eax, SYS_WRITE
    mov ebx, USER_DATA_VA + 0x100
    mov ecx, u_segs_len
    int 0x80
    ; A value in the data page, for `x` and `xp` to find.
    mov dword [USER_DATA_VA], 0x600df00d
    mov eax, SYS_WRITE
    mov ebx, U(u_peek)
    mov ecx, u_peek_len
    int 0x80
    mov eax, [0x00007c00]       ; the kernel's memory: a page fault
    mov eax, SYS_EXIT           ; (not reached)
    xor ebx, ebx
    int 0x80

; AX -> four hex digits at EDI.
u_hex16_to:
    mov ecx, 4
.digit:
    rol ax, 4
    mov bl, al
    and bl, 0x0f
    add bl, '0'
    cmp bl, '9'
    jbe .store
    add bl, 'a' - '9' - 1
.store:
    mov [edi], bl
    inc edi
    loop .digit
    ret

u_hello:    db "hello from ring 3, running at linear 08048000", 10
u_hello_len equ $ - u_hello
u_segs:     db "my segments: cs="
u_segs_cs:  db "???? ss="
u_segs_ss:  db "????", 10
u_segs_len  equ $ - u_segs
u_peek:     db "stored 600df00d at 08049000; now reading the kernel's memory at 00007c00", 10
u_peek_len  equ $ - u_peek
user_end:

; ---- data ----

bits 16
%include "lib/console.inc"
%include "lib/uart.inc"
%include "lib/vga.inc"
%include "lib/exit.inc"

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff       ; 08h kernel code: base 0, limit 4 GiB, 32-bit, DPL 0
    dq 0x00cf92000000ffff       ; 10h kernel data
    dq 0x00cffa000000ffff       ; 18h user code, DPL 3
    dq 0x00cff2000000ffff       ; 20h user data, DPL 3
    ; 28h TSS: base TSS, limit 103, present, DPL 0, 32-bit available TSS (type 9)
    dw 103, TSS & 0xffff
    db (TSS >> 16) & 0xff, 0x89, 0x00, (TSS >> 24) & 0xff
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt
idt_desc:
    dw 256 * 8 - 1
    dd IDT

exc_stubs:
%assign v 0
%rep 32
    dd exc_ %+ v
  %assign v v + 1
%endrep

k_row:      dd 0
k_col:      dd 0
s_banner:   db "pm32: protected mode, paging on (CR3 = 00010000), kernel in ring 0", 10, 0
s_task:     db "pm32: ring-3 task: code at linear 08048000 (physical 00105000), data at 08049000 (00106000), stack at bffff000 (00107000)", 10, 0
s_task_tag: db "[task] ", 0
s_exited:   db "pm32: the task exited with status ", 0
s_pf:       db "pm32: page fault in the ring-3 task at eip ", 0
s_cr2:      db ": cr2 = ", 0
s_error:    db ", error ", 0
s_pf_user:  db " (user-mode ", 0
s_pf_read:  db "read, ", 0
s_pf_write: db "write, ", 0
s_pf_present: db "protection violation)", 10, 0
s_pf_notpresent: db "page not present)", 10, 0
s_killed:   db "pm32: the task is ended", 10, 0
s_done:     db "pm32: done", 10, 0
s_unexpected: db "pm32: unexpected exception ", 0
s_at:       db " at ", 0

%include "lib/stage1-end.inc"
