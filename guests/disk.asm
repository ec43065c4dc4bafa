; disk: an ATA PIO driver for the primary IDE channel, interrupt driven, as a small OS has it.
;
; - It resets the channel (SRST in the Device Control register) and checks the ATA signature
;   the reset leaves in the task file, then turns interrupts on (nIEN = 0): every command ends
;   with IRQ 14 (through the slave 8259), whose handler reads the Status register (that is
;   what acknowledges the drive) and wakes the main loop. The PIT ticks at 100 Hz so that a
;   drive that never interrupts is reported as a timeout instead of a hang.
; - IDENTIFY DEVICE: the model string (words 27-46, two characters a word, high byte first)
;   and the LBA28 capacity (words 60-61).
; - READ SECTORS: a header sector at LBA 32 names 8 data sectors at LBA 33 and their 32-bit
;   checksum (this file computes it when it is assembled); the driver reads the 8 sectors in
;   one command, one PIO data-in block (256 words) per interrupt, and verifies the sum.
; - WRITE SECTORS to LBA 48-49 (PIO data-out: the first block goes as soon as DRQ is set, the
;   rest after each interrupt), FLUSH CACHE, then it reads them back and compares.
; - Errors are reported with the Status and Error registers decoded. One is provoked on
;   purpose: a read one sector past the end of the disk, which the drive must refuse (ATA-6
;   allows it to say IDNF, "ID not found", or ABRT, "command aborted").
; - It ends through isa-debug-exit: 0 when every check passed (host status 1), 1 if not.
;
; The guest writes to its own disk: run it on a copy, or with snapshot=on, e.g.
;   node bin/hvmon.js run --drive file=guests/disk.img,snapshot=on --display none \
;        --device isa-debug-exit,iobase=0xf4,iosize=1

%include "lib/stage1.inc"

ATA_ERROR   equ 0x1f1       ; read: Error
ATA_SECTORS equ 0x1f2
ATA_ALTSTAT equ 0x3f6       ; read: Alternate Status (does not acknowledge the interrupt)
ATA_DEVCTL  equ 0x3f6       ; write: Device Control
DEVCTL_NIEN equ 0x02
DEVCTL_SRST equ 0x04
ATA_SR_DRDY equ 0x40
ATA_SR_DF   equ 0x20
CMD_READ    equ 0x20
CMD_WRITE   equ 0x30
CMD_FLUSH   equ 0xe7
CMD_IDENT   equ 0xec

HEADER_LBA  equ 32
DATA_LBA    equ 33
DATA_COUNT  equ 8
SCRATCH_LBA equ 48
SCRATCH_COUNT equ 2
DISK_SECTORS equ 64

PIT_HZ      equ 100
TIMEOUT     equ 2 * PIT_HZ  ; ticks to wait for IRQ 14

BUF         equ 0x2000      ; 8 sectors of I/O buffer (0000:2000-2FFF)
WBUF        equ 0x3000      ; what we write (0000:3000-33FF)

main:
    call uart_init
    mov byte [vga_attr], 0x1f
    call vga_clear
    PRINT "disk: ATA PIO driver on the primary channel (1F0h-1F7h, 3F6h), IRQ 14", 10

    call pic_init
    mov bl, IRQ_BASE + 0
    mov ax, timer_isr
    call set_vector
    mov bl, IRQ_BASE + 14
    mov ax, ata_isr
    call set_vector
    mov al, 0x34                ; PIT channel 0: mode 2, 100 Hz
    out 0x43, al
    mov ax, (1193182 + PIT_HZ / 2) / PIT_HZ
    out 0x40, al
    mov al, ah
    out 0x40, al
    mov cl, 0
    call pic_unmask
    mov cl, 14
    call pic_unmask
    sti

    ; ---- reset ----
    call ata_reset
    jc fail
    PRINT "disk: reset: ATA signature in the task file (count 01, LBA 01 00 00)", 10

    ; ---- IDENTIFY DEVICE ----
    mov byte [ata_device], 0xa0
    mov al, CMD_IDENT
    call ata_command
    call ata_data_in_block
    jc fail
    PRINT 'disk: IDENTIFY: model "'
    mov si, BUF + 27 * 2
    mov cx, 20
    call print_ata_string
    PRINT '", '
    mov eax, [BUF + 60 * 2]
    mov [capacity], eax
    call put_dec32
    PRINT " sectors (LBA28)", 10
    cmp dword [capacity], DISK_SECTORS
    je .capacity_ok
    PRINT "disk: the disk should have 64 sectors", 10
    mov byte [failed], 1
.capacity_ok:

    ; ---- the header, then the data it describes ----
    mov eax, HEADER_LBA
    mov cx, 1
    call ata_read
    jc fail
    mov si, BUF
    mov di, magic
    mov cx, MAGIC_LEN
    repe cmpsb
    je .header_ok
    PRINT "disk: LBA 32 has no header", 10
    jmp fail
.header_ok:
    PRINT "disk: read 1 sector at LBA "
    mov ax, HEADER_LBA
    call put_dec
    PRINT ': header "'
    mov si, BUF
    call con_puts
    PRINT '", '
    mov ax, [BUF + 32 + 4]
    call put_dec
    PRINT " data sectors at LBA "
    mov eax, [BUF + 32]
    call put_dec32
    PRINT ", checksum "
    mov eax, [BUF + 32 + 8]
    mov [expected_sum], eax
    call put_hex32
    PRINT 10

    mov eax, [BUF + 32]
    mov cx, [BUF + 32 + 4]
    call ata_read
    jc fail
    xor eax, eax                ; 32-bit sum of the dwords
    mov si, BUF
    mov cx, DATA_COUNT * 512 / 4
.sum:
    add eax, [si]
    add si, 4
    loop .sum
    PRINT "disk: read 8 sectors at LBA 33 in one command: checksum "
    call put_hex32
    cmp eax, [expected_sum]
    jne .bad_sum
    PRINT ", as the header says", 10
    jmp .written
.bad_sum:
    PRINT ", but the header says "
    mov eax, [expected_sum]
    call put_hex32
    PRINT 10
    mov byte [failed], 1
.written:

    ; ---- write, flush, read back ----
    call fill_write_buffer
    mov eax, SCRATCH_LBA
    mov cx, SCRATCH_COUNT
    call ata_write
    jc fail
    mov al, CMD_FLUSH
    mov byte [ata_device], 0xe0
    call ata_command
    call ata_wait
    jc fail
    mov eax, SCRATCH_LBA
    mov cx, SCRATCH_COUNT
    call ata_read
    jc fail
    mov si, BUF
    mov di, WBUF
    mov cx, SCRATCH_COUNT * 512
    repe cmpsb
    jne .differ
    PRINT "disk: wrote 2 sectors at LBA 48, flushed the cache, read them back: identical", 10
    jmp .errors
.differ:
    PRINT "disk: the 2 sectors read back from LBA 48 differ from what was written", 10
    mov byte [failed], 1

    ; ---- an error on purpose ----
.errors:
    PRINT "disk: read 1 sector at LBA "
    mov eax, [capacity]
    call put_dec32
    PRINT " (past the end): "
    mov cx, 1
    call ata_read
    jnc .no_error
    test byte [ata_error], 0x14 ; IDNF or ABRT
    jz .wrong_error
    PRINT "disk: refused, as it should be", 10
    jmp .done
.no_error:
    PRINT "the drive returned data!", 10
    mov byte [failed], 1
    jmp .done
.wrong_error:
    PRINT "disk: refused, but with the wrong error", 10
    mov byte [failed], 1

.done:
    cli
    cmp byte [failed], 0
    jne .some_failed
    PRINT "disk: all checks passed", 10
    xor al, al
    jmp debug_exit
.some_failed:
    PRINT "disk: some checks FAILED", 10
    mov al, 1
    jmp debug_exit

fail:
    cli
    PRINT "disk: giving up", 10
    mov al, 1
    jmp debug_exit

; ---- interrupt handlers ----

timer_isr:
    inc dword [cs:ticks]
    push ax
    mov al, PIC_EOI
    out PIC1_CMD, al
    pop ax
    iret

; IRQ 14: reading Status acknowledges the drive's interrupt (INTRQ goes low).
ata_isr:
    push ax
    push dx
    mov dx, ATA_STATUS
    in al, dx
    mov [cs:irq_status], al
    mov byte [cs:irq_seen], 1
    mov al, PIC_EOI
    out PIC2_CMD, al            ; IRQ 14 is on the slave
    out PIC1_CMD, al            ; and the slave on the master's IRQ 2
    pop dx
    pop ax
    iret

; ---- the driver ----

; Pulse SRST with interrupts off, wait for BSY to clear, check the signature, then enable
; interrupts (nIEN = 0). CF on failure.
ata_reset:
    mov dx, ATA_DEVCTL
    mov al, DEVCTL_SRST | DEVCTL_NIEN
    out dx, al
    mov cx, 4                   ; hold it a few microseconds: 4 reads of Alternate Status
.hold:
    in al, dx
    loop .hold
    mov al, DEVCTL_NIEN
    out dx, al
    call ata_wait_not_busy
    jc .timeout
    mov dx, ATA_SECTORS         ; the signature: count 1, LBA low 1, mid 0, high 0
    in al, dx
    cmp al, 1
    jne .not_ata
    inc dx
    in al, dx
    cmp al, 1
    jne .not_ata
    inc dx
    in al, dx
    test al, al
    jnz .not_ata
    inc dx
    in al, dx
    test al, al
    jnz .not_ata
    mov dx, ATA_DEVCTL
    xor al, al                  ; nIEN = 0: the drive may interrupt
    out dx, al
    clc
    ret
.timeout:
    PRINT "disk: the drive stays busy after a reset", 10
    stc
    ret
.not_ata:
    PRINT "disk: no ATA signature after the reset", 10
    stc
    ret

; Poll Alternate Status until BSY is clear (bounded by the PIT). CF on timeout.
ata_wait_not_busy:
    push eax
    push dx
    mov eax, [ticks]
    add eax, TIMEOUT
    mov [deadline], eax
    mov dx, ATA_ALTSTAT
.poll:
    in al, dx
    test al, ATA_SR_BSY
    jz .ok
    mov eax, [ticks]
    cmp eax, [deadline]
    jb .poll
    pop dx
    pop eax
    stc
    ret
.ok:
    pop dx
    pop eax
    clc
    ret

; Select [ata_device] (with the LBA bits in its low nibble), load the task file from EAX (LBA)
; and CX (count), and issue command AL. The interrupt flag is cleared before the command so
; the interrupt it causes is not missed.
ata_command_lba:
    push ax
    push dx
    push ax
    mov dx, ATA_DEVICE
    mov al, [ata_device]
    out dx, al
    mov dx, ATA_SECTORS
    mov al, cl
    out dx, al
    mov dx, ATA_LBA0
    mov al, [lba]
    out dx, al
    inc dx
    mov al, [lba + 1]
    out dx, al
    inc dx
    mov al, [lba + 2]
    out dx, al
    pop ax
    mov byte [irq_seen], 0
    mov dx, ATA_COMMAND
    out dx, al
    pop dx
    pop ax
    ret

; Issue a command with no parameters: AL = command.
ata_command:
    push eax
    push cx
    xor ecx, ecx
    mov [lba], ecx
    call ata_command_lba
    pop cx
    pop eax
    ret

; Wait for IRQ 14 (with a timeout) and check the status it left. CF on error or timeout.
ata_wait:
    push eax
    mov eax, [ticks]
    add eax, TIMEOUT
    mov [deadline], eax
.sleep:
    cli
    cmp byte [irq_seen], 0
    jne .arrived
    mov eax, [ticks]
    cmp eax, [deadline]
    jae .timeout
    sti
    hlt
    jmp .sleep
.arrived:
    sti
    mov byte [irq_seen], 0
    mov al, [irq_status]
    test al, ATA_SR_ERR | ATA_SR_DF
    jnz .error
    pop eax
    clc
    ret
.timeout:
    sti
    PRINT "timeout: no IRQ 14 from the drive", 10
    mov byte [failed], 1
    pop eax
    stc
    ret
.error:
    call report_error
    pop eax
    stc
    ret

; After an interrupt: expect DRQ and take one 256-word block into ES:DI (DI advances).
; For IDENTIFY, DI starts at BUF.
ata_data_in_block:
    mov di, BUF
ata_data_in_next:
    call ata_wait
    jc .done
    test byte [irq_status], ATA_SR_DRQ
    jz .no_data
    push cx
    push dx
    mov dx, ATA_DATA
    mov cx, 256
    rep insw
    pop dx
    pop cx
    clc
.done:
    ret
.no_data:
    PRINT "the drive has no data for us (DRQ clear)", 10
    mov byte [failed], 1
    stc
    ret

; READ SECTORS: EAX = LBA, CX = count (1-8) into BUF. CF on error.
ata_read:
    push eax
    push cx
    push di
    mov [lba], eax
    shr eax, 24
    and al, 0x0f
    or al, 0xe0                 ; LBA mode, device 0, LBA bits 27-24
    mov [ata_device], al
    mov al, CMD_READ
    call ata_command_lba
    mov di, BUF
.block:
    call ata_data_in_next       ; one interrupt per sector
    jc .out
    loop .block
    clc
.out:
    pop di
    pop cx
    pop eax
    ret

; WRITE SECTORS: EAX = LBA, CX = count, from WBUF. CF on error.
ata_write:
    push eax
    push cx
    push dx
    push si
    mov [lba], eax
    shr eax, 24
    and al, 0x0f
    or al, 0xe0
    mov [ata_device], al
    mov al, CMD_WRITE
    call ata_command_lba
    mov si, WBUF
    ; PIO data-out: the drive asks for the first block with DRQ, without an interrupt.
    call ata_wait_not_busy
    jc .timeout
    mov dx, ATA_ALTSTAT
    in al, dx
    test al, ATA_SR_ERR
    jnz .refused
    test al, ATA_SR_DRQ
    jz .refused
.block:
    push cx
    mov dx, ATA_DATA
    mov cx, 256
    rep outsw
    pop cx
    call ata_wait               ; the block was taken: an interrupt each time
    jc .out
    loop .block
    clc
.out:
    pop si
    pop dx
    pop cx
    pop eax
    ret
.timeout:
    PRINT "the drive stays busy after WRITE SECTORS", 10
    stc
    jmp .out
.refused:
    mov [irq_status], al
    call report_error
    stc
    jmp .out

; "error: status XXh, error YYh (NAMES)" and a new line, from [irq_status] and the Error
; register.
report_error:
    push ax
    push dx
    push si
    mov dx, ATA_ERROR
    in al, dx
    mov [ata_error], al
    PRINT "error: status "
    mov al, [irq_status]
    call put_hex8
    PRINT "h, error "
    mov al, [ata_error]
    call put_hex8
    PRINT "h ("
    mov si, error_names
    mov ah, 0x80
    mov dl, 0                   ; names printed so far
.bit:
    test [ata_error], ah
    jz .skip
    test dl, dl
    jz .first
    push ax
    mov al, ' '
    call con_putc
    pop ax
.first:
    call con_puts
    inc dl
.skip:
    ; next name
.to_end:
    lodsb
    test al, al
    jnz .to_end
    shr ah, 1
    jnz .bit
    PRINT ")", 10
    pop si
    pop dx
    pop ax
    ret

; ATA strings: 2 characters a word, the first in the high byte; trailing spaces dropped.
; DS:SI = words, CX = word count.
print_ata_string:
    push ax
    push bx
    push cx
    push si
    ; Find the last non-space character.
    mov bx, cx
    shl bx, 1                   ; BX = characters
.trim:
    test bx, bx
    jz .print
    mov ax, bx
    dec ax
    xor ax, 1                   ; character k is byte k ^ 1 of the buffer
    push si
    add si, ax
    cmp byte [si], ' '
    pop si
    jne .print
    dec bx
    jmp .trim
.print:
    xor cx, cx
.char:
    cmp cx, bx
    jae .done
    push si
    mov ax, cx
    xor ax, 1
    add si, ax
    mov al, [si]
    pop si
    call con_putc
    inc cx
    jmp .char
.done:
    pop si
    pop cx
    pop bx
    pop ax
    ret

; WBUF = "written by the disk guest, sector N" then bytes 0, 1, 2, ... in each sector.
fill_write_buffer:
    push ax
    push cx
    push di
    push si
    mov di, WBUF
    mov cx, SCRATCH_COUNT * 512
    xor al, al
.fill:
    mov [di], al
    inc al
    inc di
    loop .fill
    mov di, WBUF
    mov si, written_text
    mov cx, WRITTEN_LEN
    rep movsb
    mov byte [WBUF + WRITTEN_LEN - 2], '0'
    mov di, WBUF + 512
    mov si, written_text
    mov cx, WRITTEN_LEN
    rep movsb
    mov byte [WBUF + 512 + WRITTEN_LEN - 2], '1'
    pop si
    pop di
    pop cx
    pop ax
    ret

%include "lib/console.inc"
%include "lib/uart.inc"
%include "lib/vga.inc"
%include "lib/pic.inc"
%include "lib/exit.inc"

magic:        db "hvmon disk demo", 0
MAGIC_LEN     equ $ - magic
written_text: db "written by the disk guest, sector ?", 0
WRITTEN_LEN   equ $ - written_text
error_names:  db "BBK", 0, "UNC", 0, "MC", 0, "IDNF", 0, "MCR", 0, "ABRT", 0, "TK0NF", 0, "AMNF", 0
ticks:        dd 0
deadline:     dd 0
capacity:     dd 0
expected_sum: dd 0
lba:          dd 0
ata_device:   db 0
ata_error:    db 0
irq_seen:     db 0
irq_status:   db 0
failed:       db 0

%include "lib/stage1-end.inc"

; ---- the data on the disk ----

; Eight sectors of data and their sum, computed here.
%assign i 0
%assign sum 0
%rep DATA_COUNT * 128
  %assign v ((i * 2654435761) ^ (i << 7) ^ 0x5a5aa5a5) & 0xffffffff
  %assign sum (sum + v) & 0xffffffff
  %assign i i + 1
%endrep

    times HEADER_LBA * 512 - ($ - $$) db 0
header:
    db "hvmon disk demo", 0
    times 32 - ($ - header) db 0
    dd DATA_LBA                 ; +32: first data sector
    dd DATA_COUNT               ; +36: data sectors
    dd sum                      ; +40: 32-bit sum of their dwords
    times 512 - ($ - header) db 0

%assign i 0
%rep DATA_COUNT * 128
  %assign v ((i * 2654435761) ^ (i << 7) ^ 0x5a5aa5a5) & 0xffffffff
    dd v
  %assign i i + 1
%endrep

    times DISK_SECTORS * 512 - ($ - $$) db 0
