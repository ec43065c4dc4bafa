; echo: interrupt-driven input from two devices, echoed to COM1 and to the VGA screen.
;
; - COM1 (9600 baud, 8N1) receives through interrupts, as an OS serial driver does: FIFOs
;   on with a receive trigger of 8 bytes, IER = received data + line status, MCR.OUT2 set so
;   the UART's interrupt reaches IRQ 4. The handler reads IIR until it says "no interrupt pending",
;   drains RBR while LSR.DR is set (for both "received data available" and the FIFO's
;   "character timeout", which is what a short burst produces), and counts line errors.
; - The keyboard is the i8042 controller with a PS/2 keyboard on IRQ 1. The driver takes the
;   controller over the way Linux's i8042 driver does: disable both ports, flush the output
;   buffer, run the controller self-test (55h), reset the keyboard (FAh, then AAh), then turn
;   on scan-code translation (set 1) and the IRQ 1 enable bit of the command byte. The
;   handler reads one scan code from port 60h per interrupt; the main loop turns make codes
;   into ASCII (US layout, with Shift).
; - Both handlers only queue bytes (one ring each) and acknowledge the PIC; the main loop
;   sleeps in HLT and echoes whatever arrived. A line is tagged with where it came from:
;       [com1] text that arrived on the serial line
;       [kbd] text typed on the keyboard
; - Esc on the keyboard ends the guest with a summary and isa-debug-exit 0 (host status 1).
;
; Try it: node bin/hvmon.js run guests/echo.img --display none --name echo, then type in
; that terminal (COM1), or `node bin/hvmon.js repl echo -c 'type hello\n'` for the keyboard.

%include "lib/stage1.inc"

KBC_DATA    equ 0x60
KBC_STATUS  equ 0x64        ; read: status
KBC_CMD     equ 0x64        ; write: controller command
KBC_OBF     equ 0x01        ; output buffer full (a byte for us at 60h)
KBC_IBF     equ 0x02        ; input buffer full (the controller has not taken our byte yet)
CCB_IRQ1    equ 0x01        ; command byte: keyboard interrupt enable
CCB_IRQ12   equ 0x02        ; command byte: mouse interrupt enable
CCB_KBD_OFF equ 0x10        ; command byte: keyboard clock disabled
CCB_XLAT    equ 0x40        ; command byte: translate to scan code set 1

UART_IIR_NONE equ 0x01
IER_ERBFI   equ 0x01        ; received data available (and FIFO timeout)
IER_ELSI    equ 0x04        ; receiver line status

SRC_NONE    equ 0
SRC_COM1    equ 1
SRC_KBD     equ 2

main:
    ; 9600 baud, a console's usual speed: received bytes come about 1 ms apart, so the driver
    ; has 8 character times (trigger 8 of a 16-byte FIFO) to answer before the FIFO overruns.
    mov word [uart_divisor], 12
    call uart_init
    mov byte [vga_attr], 0x07
    call vga_clear
    mov byte [vga_attr], 0x1f
    PRINT "echo: COM1 receive interrupts (IRQ 4) and keyboard (IRQ 1); Esc ends", 10
    mov byte [vga_attr], 0x07

    call pic_init
    mov bl, IRQ_BASE + 4
    mov ax, com1_isr
    call set_vector
    mov bl, IRQ_BASE + 1
    mov ax, kbd_isr
    call set_vector

    call kbd_init
    jc .kbd_failed

    ; COM1: receive trigger at 8 bytes, then the two receive interrupt sources.
    mov dx, COM1 + UART_FCR
    mov al, 0x87                ; FIFO on, both cleared, trigger level 8
    out dx, al
    mov dx, COM1 + UART_IER
    mov al, IER_ERBFI | IER_ELSI
    out dx, al
    mov dx, COM1 + UART_LSR     ; start clean: no stale status or data
    in al, dx
    mov dx, COM1 + UART_RBR
    in al, dx
    mov dx, COM1 + UART_IIR
    in al, dx

    mov cl, 4
    call pic_unmask
    mov cl, 1
    call pic_unmask
    PRINT "echo: ready", 10

.loop:
    cli
    mov al, [com1_head]
    cmp al, [com1_tail]
    jne .com1
    mov al, [kbd_head]
    cmp al, [kbd_tail]
    jne .kbd
    sti                         ; STI's one-instruction shadow makes STI;HLT atomic:
    hlt                         ; an interrupt cannot slip in between the check and the sleep
    jmp .loop
.com1:
    movzx bx, byte [com1_tail]
    mov al, [com1_ring + bx]
    inc byte [com1_tail]
    sti
    call serial_char
    jmp .loop
.kbd:
    movzx bx, byte [kbd_tail]
    mov al, [kbd_ring + bx]
    inc byte [kbd_tail]
    sti
    call scancode
    jc .finish
    jmp .loop

.kbd_failed:
    PRINT "echo: the keyboard controller did not answer", 10
    mov al, 2
    jmp debug_exit

.finish:
    cli
    call end_line
    PRINT "echo: "
    mov eax, [com1_bytes]
    call put_dec32
    PRINT " bytes from COM1, "
    mov eax, [keys]
    call put_dec32
    PRINT " keys, "
    mov eax, [line_errors]
    call put_dec32
    PRINT " line errors; bye", 10
    xor al, al
    jmp debug_exit

; ---- interrupt handlers: take the bytes off the device, queue them, EOI ----

com1_isr:
    push ax
    push bx
    push dx
    push ds
    push word 0
    pop ds
.next:
    mov dx, COM1 + UART_IIR
    in al, dx
    test al, UART_IIR_NONE
    jnz .done
    and al, 0x0e
    cmp al, 0x06                ; receiver line status: reading LSR clears it
    jne .data
    mov dx, COM1 + UART_LSR
    in al, dx
    test al, 0x1e               ; OE, PE, FE, BI
    jz .next
    inc dword [line_errors]
    jmp .next
.data:
    cmp al, 0x04                ; received data available
    je .drain
    cmp al, 0x0c                ; character timeout (FIFO mode)
    je .drain
    mov dx, COM1 + 6            ; modem status (not enabled): reading MSR clears it
    in al, dx
    jmp .next
.drain:
    mov dx, COM1 + UART_LSR
    in al, dx
    test al, LSR_DR
    jz .next
    mov dx, COM1 + UART_RBR
    in al, dx
    movzx bx, byte [com1_head]
    mov [com1_ring + bx], al
    inc byte [com1_head]
    jmp .drain
.done:
    mov al, PIC_EOI
    out PIC1_CMD, al
    pop ds
    pop dx
    pop bx
    pop ax
    iret

kbd_isr:
    push ax
    push bx
    push ds
    push word 0
    pop ds
    in al, KBC_STATUS
    test al, KBC_OBF
    jz .done
    in al, KBC_DATA
    movzx bx, byte [kbd_head]
    mov [kbd_ring + bx], al
    inc byte [kbd_head]
.done:
    mov al, PIC_EOI
    out PIC1_CMD, al
    pop ds
    pop bx
    pop ax
    iret

; ---- the keyboard controller, polled, before its interrupt is enabled ----

; CF set on failure.
kbd_init:
    mov al, 0xad                ; disable the keyboard port
    call kbc_command
    jc .fail
    mov al, 0xa7                ; disable the auxiliary (mouse) port
    call kbc_command
    jc .fail
    mov cx, 32                  ; flush whatever the firmware left behind
.flush:
    in al, KBC_STATUS
    test al, KBC_OBF
    jz .flushed
    in al, KBC_DATA
    loop .flush
.flushed:
    mov al, 0x20                ; read the command byte
    call kbc_command
    jc .fail
    call kbc_read
    jc .fail
    mov [ccb], al
    mov al, 0xaa                ; controller self-test: 55h means it passed
    call kbc_command
    jc .fail
    call kbc_read
    jc .fail
    cmp al, 0x55
    jne .fail
    ; No interrupts and no translation while we talk to the keyboard itself.
    and byte [ccb], ~(CCB_IRQ1 | CCB_IRQ12 | CCB_XLAT | CCB_KBD_OFF)
    call write_ccb
    jc .fail
    mov al, 0xae                ; enable the keyboard port
    call kbc_command
    jc .fail
    mov al, 0xff                ; keyboard: reset. It answers FAh (ACK), then AAh (self-test passed).
    call kbd_send
    jc .fail
    call kbc_read
    jc .fail
    cmp al, 0xfa
    jne .fail
    call kbc_read
    jc .fail
    cmp al, 0xaa
    jne .fail
    or byte [ccb], CCB_IRQ1 | CCB_XLAT
    call write_ccb
    ret
.fail:
    stc
    ret

write_ccb:
    mov al, 0x60                ; write the command byte
    call kbc_command
    jc .done
    mov al, [ccb]
    call kbd_send
.done:
    ret

; AL = controller command (to port 64h) / byte for the keyboard (to port 60h). CF on timeout.
kbc_command:
    push ax
    call kbc_wait_input
    pop ax
    jc .done
    out KBC_CMD, al
.done:
    ret

kbd_send:
    push ax
    call kbc_wait_input
    pop ax
    jc .done
    out KBC_DATA, al
.done:
    ret

; Wait until the controller has taken the last byte (IBF = 0).
kbc_wait_input:
    push cx
    mov cx, 0xffff
.poll:
    in al, KBC_STATUS
    test al, KBC_IBF
    jz .ok
    loop .poll
    pop cx
    stc
    ret
.ok:
    pop cx
    clc
    ret

; Wait for a byte from the controller (OBF = 1) and read it into AL. CF on timeout.
kbc_read:
    push cx
    mov cx, 0xffff
.poll:
    in al, KBC_STATUS
    test al, KBC_OBF
    jnz .ok
    loop .poll
    pop cx
    stc
    ret
.ok:
    in al, KBC_DATA
    pop cx
    clc
    ret

; ---- echoing ----

; AL = a byte from COM1.
serial_char:
    inc dword [com1_bytes]
    cmp al, 10                  ; a terminal's CR LF: the CR already ended the line
    je .done
    mov ah, SRC_COM1
    mov byte [vga_attr], 0x0a   ; green
    call echo_char
.done:
    ret

; AL = a scan code (set 1). CF set when the guest should end (Esc).
scancode:
    cmp byte [e0_prefix], 0
    je .plain
    mov byte [e0_prefix], 0     ; the second byte of an extended key (arrows, ...): ignored
    jmp .none
.plain:
    cmp al, 0xe0
    jne .not_e0
    mov byte [e0_prefix], 1
    jmp .none
.not_e0:
    cmp al, 0x2a                ; left shift down
    je .shift_down
    cmp al, 0x36                ; right shift down
    je .shift_down
    cmp al, 0xaa                ; left shift up
    je .shift_up
    cmp al, 0xb6                ; right shift up
    je .shift_up
    test al, 0x80               ; other key releases
    jnz .none
    inc dword [keys]
    cmp al, 0x01                ; Esc
    je .esc
    cmp al, KEYMAP_SIZE
    jae .none
    movzx bx, al
    mov al, [keymap + bx]
    cmp byte [shift], 0
    je .mapped
    mov al, [keymap_shift + bx]
.mapped:
    test al, al
    jz .none
    mov ah, SRC_KBD
    mov byte [vga_attr], 0x0f   ; white
    call echo_char
.none:
    clc
    ret
.shift_down:
    mov byte [shift], 1
    jmp .none
.shift_up:
    mov byte [shift], 0
    jmp .none
.esc:
    stc
    ret

; AL = character, AH = where it came from. A line holds the text of one source; it starts with
; the source's tag and ends at CR (Enter).
echo_char:
    cmp [line_src], ah
    je .same
    call end_line
    mov [line_src], ah
    push si
    mov si, tag_com1
    cmp ah, SRC_COM1
    je .tag
    mov si, tag_kbd
.tag:
    call con_puts
    pop si
.same:
    cmp al, 13
    je end_line
    jmp con_putc

end_line:
    cmp byte [line_src], SRC_NONE
    je .done
    push ax
    mov al, 10
    call con_putc
    pop ax
    mov byte [line_src], SRC_NONE
.done:
    ret

%include "lib/console.inc"
%include "lib/uart.inc"
%include "lib/vga.inc"
%include "lib/pic.inc"
%include "lib/exit.inc"

tag_com1:   db "[com1] ", 0
tag_kbd:    db "[kbd] ", 0

; US layout, scan code set 1, make codes 00h-39h.
keymap:
    db 0, 27, "1234567890-=", 8, 9
    db "qwertyuiop[]", 13, 0
    db "asdfghjkl;'`", 0, 0x5c
    db "zxcvbnm,./", 0, "*", 0, " "
KEYMAP_SIZE equ $ - keymap
keymap_shift:
    db 0, 27, "!@#$%^&*()_+", 8, 9
    db "QWERTYUIOP{}", 13, 0
    db 'ASDFGHJKL:"~', 0, "|"
    db "ZXCVBNM<>?", 0, "*", 0, " "

com1_head:  db 0
com1_tail:  db 0
kbd_head:   db 0
kbd_tail:   db 0
e0_prefix:  db 0
shift:      db 0
line_src:   db SRC_NONE
ccb:        db 0
com1_bytes: dd 0
keys:       dd 0
line_errors: dd 0

%include "lib/stage1-end.inc"

; The rings live past the image (the loader does not need to carry 512 zero bytes).
com1_ring   equ 0x6000
kbd_ring    equ 0x6100
