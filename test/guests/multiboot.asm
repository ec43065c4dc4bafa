; output: multiboot.elf
; A Multiboot v1 kernel (ELF32, as QEMU -kernel and GRUB load it). It checks the boot
; loader's handover (EAX = 2BADB002h, EBX → information with mem_lower/mem_upper and the
; command line), prints them on COM1 from 32-bit protected mode, and exits through
; isa-debug-exit at 0xf4 with 0x31 (status 99).
bits 32

MB_MAGIC equ 0x1badb002
MB_FLAGS equ 0x00000003     ; page-align modules, want memory info
LOAD     equ 0x100000

org LOAD
elf_header:
    ; A hand-made ELF32 header and one PT_LOAD program header covering the whole file.
    db 0x7f, "ELF", 1, 1, 1, 0
    times 8 db 0
    dw 2                    ; e_type: EXEC
    dw 3                    ; e_machine: i386
    dd 1                    ; e_version
    dd entry                ; e_entry
    dd phdr - elf_header    ; e_phoff
    dd 0                    ; e_shoff
    dd 0                    ; e_flags
    dw 52                   ; e_ehsize
    dw 32                   ; e_phentsize
    dw 1                    ; e_phnum
    dw 0, 0, 0              ; e_shentsize, e_shnum, e_shstrndx
phdr:
    dd 1                    ; PT_LOAD
    dd 0                    ; p_offset
    dd LOAD                 ; p_vaddr
    dd LOAD                 ; p_paddr
    dd file_end - elf_header ; p_filesz
    dd bss_end - elf_header ; p_memsz
    dd 7                    ; RWX
    dd 0x1000               ; p_align

align 4
mb_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)

entry:
    mov esp, stack_top
    mov [info], ebx
    cmp eax, 0x2badb002
    jne bad_magic
    mov esi, s_magic
    call puts
    mov ebx, [info]
    mov esi, s_lower
    call puts
    mov eax, [ebx + 4]      ; mem_lower (KiB)
    call putdec
    mov esi, s_upper
    call puts
    mov eax, [ebx + 8]      ; mem_upper (KiB)
    call putdec
    mov esi, s_cmd
    call puts
    test dword [ebx], 4     ; flags.cmdline
    jz .nocmd
    mov esi, [ebx + 16]
    call puts
.nocmd:
    mov esi, s_nl
    call puts
    mov al, 0x31
    out 0xf4, al
.hang:
    hlt
    jmp .hang

bad_magic:
    mov esi, s_bad
    call puts
    mov al, 0x32
    out 0xf4, al
    jmp entry.hang

putc:                       ; AL
    push edx
    push eax
    mov dx, 0x3fd
.w: in al, dx
    test al, 0x20
    jz .w
    pop eax
    mov dx, 0x3f8
    out dx, al
    pop edx
    ret

puts:                       ; ESI = NUL-terminated
    push eax
.n: lodsb
    test al, al
    jz .d
    call putc
    jmp .n
.d: pop eax
    ret

putdec:                     ; EAX unsigned
    push eax
    push ebx
    push ecx
    push edx
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
    pop edx
    pop ecx
    pop ebx
    pop eax
    ret

s_magic: db "multiboot: magic ok", 13, 10, 0
s_bad:   db "multiboot: bad magic", 13, 10, 0
s_lower: db "mem_lower=", 0
s_upper: db " mem_upper=", 0
s_cmd:   db " cmdline=", 0
s_nl:    db 13, 10, 0
align 4
file_end:

; The BSS: zeroed by the loader (p_memsz > p_filesz), not stored in the file.
info      equ file_end
stack_top equ file_end + 4 + 4096
bss_end   equ stack_top
