; output: mbkernel.elf
; A Multiboot v1 kernel (ELF32) for the boot-loader chains: SeaBIOS -> GRUB and
; SeaBIOS -> SYSLINUX (mboot.c32) load it from the disk. It reports on COM1, from 32-bit
; protected mode with no BIOS, what the loader handed over (Multiboot Specification 0.6.96,
; 3.2 "Machine state" and 3.3 "Boot information format"):
;   the magic in EAX, the boot loader's name (flags bit 9), mem_lower/mem_upper (bit 0), the
;   command line (bit 2) and the BIOS memory map (bit 6), one line per range;
; then exits through isa-debug-exit at 0F4h: 20h (status 65) if the magic was right and the
; memory information was there, 21h (status 67) if not.
bits 32

MB_MAGIC   equ 0x1badb002
MB_FLAGS   equ 0x00000003       ; page-align modules, want memory info
LOAD       equ 0x100000
DEBUG_EXIT equ 0xf4
COM1       equ 0x3f8

org LOAD
elf_header:
    db 0x7f, "ELF", 1, 1, 1, 0
    times 8 db 0
    dw 2                        ; e_type: EXEC
    dw 3                        ; e_machine: i386
    dd 1                        ; e_version
    dd entry                    ; e_entry
    dd phdr - elf_header        ; e_phoff
    dd 0                        ; e_shoff
    dd 0                        ; e_flags
    dw 52                       ; e_ehsize
    dw 32                       ; e_phentsize
    dw 1                        ; e_phnum
    dw 0, 0, 0                  ; e_shentsize, e_shnum, e_shstrndx
phdr:
    dd 1                        ; PT_LOAD
    dd 0                        ; p_offset
    dd LOAD                     ; p_vaddr
    dd LOAD                     ; p_paddr
    dd file_end - elf_header    ; p_filesz
    dd bss_end - elf_header     ; p_memsz
    dd 7                        ; RWX
    dd 0x1000                   ; p_align

align 4
mb_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)

entry:
    cld
    mov esp, stack_top
    mov [info], ebx
    cmp eax, 0x2badb002
    jne bad
    mov esi, s_magic
    call puts

    mov ebx, [info]
    test dword [ebx], 1 << 9    ; boot_loader_name
    jz .noname
    mov esi, s_loader
    call puts
    mov esi, [ebx + 64]
    call puts
    call crlf
.noname:
    test dword [ebx], 1 << 0    ; mem_lower, mem_upper
    jz bad
    mov esi, s_lower
    call puts
    mov eax, [ebx + 4]
    call putdec
    mov esi, s_upper
    call puts
    mov eax, [ebx + 8]
    call putdec
    call crlf

    test dword [ebx], 1 << 2    ; cmdline
    jz .nocmd
    mov esi, s_cmd
    call puts
    mov esi, [ebx + 16]
    call puts
    call crlf
.nocmd:
    test dword [ebx], 1 << 6    ; mmap_length, mmap_addr
    jz .nommap
    mov esi, [ebx + 48]         ; mmap_addr
    mov edi, esi
    add edi, [ebx + 44]         ; mmap_length
.range:
    cmp esi, edi
    jae .nommap
    ; struct { u32 size; u64 base_addr; u64 length; u32 type; }, size excludes itself.
    ; The low 32 bits of base and length: this VM has no memory above 4 GiB.
    push esi
    mov esi, s_mmap
    call puts
    pop esi
    mov eax, [esi + 4]
    call puthex
    mov al, '+'
    call putc
    mov eax, [esi + 12]
    call puthex
    push esi
    mov esi, s_type
    call puts
    pop esi
    mov eax, [esi + 20]
    call putdec
    call crlf
    add esi, [esi]
    add esi, 4
    jmp .range
.nommap:
    mov esi, s_ok
    call puts
    mov al, 0x20
    out DEBUG_EXIT, al
.hang:
    hlt
    jmp .hang

bad:
    mov esi, s_bad
    call puts
    mov al, 0x21
    out DEBUG_EXIT, al
    jmp entry.hang

putc:                           ; AL to COM1, once the transmitter is empty
    push edx
    push eax
    mov dx, COM1 + 5
.w: in al, dx
    test al, 0x20
    jz .w
    pop eax
    mov dx, COM1
    out dx, al
    pop edx
    ret

puts:                           ; ESI, NUL-terminated
    push eax
.n: lodsb
    test al, al
    jz .d
    call putc
    jmp .n
.d: pop eax
    ret

crlf:
    push esi
    mov esi, s_nl
    call puts
    pop esi
    ret

putdec:                         ; EAX unsigned
    pushad
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.out:
    pop eax
    add al, '0'
    call putc
    loop .out
    popad
    ret

puthex:                         ; EAX, 8 digits
    pushad
    mov ecx, 8
.dig:
    rol eax, 4
    push eax
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .p
    add al, 'a' - '0' - 10
.p: call putc
    pop eax
    loop .dig
    popad
    ret

s_magic:  db "mbkernel: multiboot magic ok", 13, 10, 0
s_bad:    db "mbkernel: bad handover", 13, 10, 0
s_loader: db "mbkernel: loader ", 0
s_lower:  db "mbkernel: mem_lower=", 0
s_upper:  db " mem_upper=", 0
s_cmd:    db "mbkernel: cmdline ", 0
s_mmap:   db "mbkernel: mmap ", 0
s_type:   db " type ", 0
s_ok:     db "mbkernel: done", 13, 10, 0
s_nl:     db 13, 10, 0
align 4
file_end:

; The BSS: zeroed by the loader (p_memsz > p_filesz), not stored in the file.
info      equ file_end
stack_top equ file_end + 4 + 4096
bss_end   equ stack_top
