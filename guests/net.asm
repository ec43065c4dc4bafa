; net: an NE2000 (DP8390) driver with just enough ARP and IPv4/ICMP to ping another VM.
;
; The driver does what Linux's ne.c and 8390.c do, in the same order:
; - reset the board (a read of the reset port, base+1Fh, written back) and wait for ISR.RST;
; - stop the NIC, byte-wide DMA, monitor mode and internal loopback while it is set up;
; - read the station address PROM with a remote DMA read (the word-wide board shows each
;   PROM byte twice), then switch to word-wide DMA;
; - put the transmit buffer at page 40h and the receive ring at pages 46h-7Fh, set PAR0-5
;   (page 1) to the address from the PROM and CURR to the first free page, start the NIC and
;   leave loopback, accepting our address and broadcasts.
; Frames go out through a remote DMA write into the transmit buffer, TBCR and CR.TXP, and the
; driver polls ISR.PTX. They come in through the ring: IRQ 9 (slave 8259) wakes the main loop,
; which acknowledges ISR and walks the ring from its next-packet pointer to CURR, fetching
; each frame's 4-byte header and data with remote DMA reads and moving BNRY behind it.
;
; On top: the guest's IPv4 address is 10.0.2.N, N being the last byte of its MAC (a stand-in
; for DHCP). Until it knows a peer it broadcasts an ARP announcement every 200 ms; it learns
; the peer from any ARP frame or echo request, answers ARP requests for its address and ICMP
; echo requests, and sends four echo requests of its own, one at a time (resent after 500 ms
; without a reply). When it has its four replies and has answered the peer's four requests,
; it waits a second (the peer may still need an answer), prints a summary and ends through
; isa-debug-exit (0; 1 when no peer answered within 60 s).
;
; Two VMs on hvmon's UDP hub (each with its own MAC):
;   node bin/hvmon.js run guests/net.img --display none --netdev udp,listen=5001,peer=127.0.0.1:5002
;   node bin/hvmon.js run guests/net.img --display none --netdev udp,listen=5002,peer=127.0.0.1:5001,mac=52:54:00:12:34:57
; (add --drive file=guests/net.img,snapshot=on instead of the image to run both from one
; file under QEMU too; QEMU: -netdev dgram,... -device ne2k_isa,netdev=...,mac=...)

%include "lib/stage1.inc"

NE          equ 0x300       ; I/O base
NE_IRQ      equ 9
NE_CR       equ NE + 0x00   ; command (all pages)
NE_PSTART   equ NE + 0x01   ; page 0 write
NE_PSTOP    equ NE + 0x02   ; page 0 write
NE_BNRY     equ NE + 0x03   ; page 0
NE_TPSR     equ NE + 0x04   ; page 0 write; read: TSR
NE_TBCR0    equ NE + 0x05
NE_TBCR1    equ NE + 0x06
NE_ISR      equ NE + 0x07   ; page 0; page 1: CURR
NE_CURR     equ NE + 0x07
NE_RSAR0    equ NE + 0x08
NE_RSAR1    equ NE + 0x09
NE_RBCR0    equ NE + 0x0a
NE_RBCR1    equ NE + 0x0b
NE_RCR      equ NE + 0x0c
NE_TCR      equ NE + 0x0d
NE_DCR      equ NE + 0x0e
NE_IMR      equ NE + 0x0f
NE_PAR0     equ NE + 0x01   ; page 1
NE_MAR0     equ NE + 0x08   ; page 1
NE_DATA     equ NE + 0x10   ; remote DMA port
NE_RESET    equ NE + 0x1f

CR_STP      equ 0x01
CR_STA      equ 0x02
CR_TXP      equ 0x04
CR_RD_READ  equ 0x08
CR_RD_WRITE equ 0x10
CR_RD_ABORT equ 0x20
CR_PAGE1    equ 0x40
ISR_PRX     equ 0x01
ISR_PTX     equ 0x02
ISR_RXE     equ 0x04
ISR_TXE     equ 0x08
ISR_OVW     equ 0x10
ISR_RDC     equ 0x40
ISR_RST     equ 0x80

TX_PAGE     equ 0x40        ; 6 pages: a full frame
RX_START    equ 0x46
RX_STOP     equ 0x80        ; the end of the NE2000's 16 KiB

TXBUF       equ 0x4000      ; frames are built here (0000:4000)
RXBUF       equ 0x4800      ; and received here (0000:4800)

PIT_HZ      equ 100
ANNOUNCE_TICKS equ 20       ; ARP announcement every 200 ms until a peer is known
RESEND_TICKS equ 50         ; echo request resent after 500 ms
LINGER_TICKS equ 100        ; stay a second after the last ping
GIVE_UP_TICKS equ 60 * PIT_HZ
PINGS       equ 4
ICMP_ID     equ 0x4856      ; "HV"
PAYLOAD_LEN equ 32

ETH_ARP     equ 0x0608      ; 0806h as stored (network byte order)
ETH_IP      equ 0x0008      ; 0800h

main:
    call uart_init
    mov byte [vga_attr], 0x1f
    call vga_clear
    call pic_init
    mov bl, IRQ_BASE + 0
    mov ax, timer_isr
    call set_vector
    mov bl, IRQ_BASE + NE_IRQ
    mov ax, nic_isr
    call set_vector
    mov al, 0x34                ; PIT channel 0: mode 2, 100 Hz
    out 0x43, al
    mov ax, (1193182 + PIT_HZ / 2) / PIT_HZ
    out 0x40, al
    mov al, ah
    out 0x40, al

    call ne_init
    jnc .up
    PRINT "net: no NE2000 at 300h (it did not come out of reset)", 10
    mov al, 1
    jmp debug_exit
.up:
    ; 10.0.2.N, N = the last byte of the MAC.
    mov dword [my_ip], 0x0002000a
    mov al, [my_mac + 5]
    mov [my_ip + 3], al
    PRINT "net: NE2000 at 300h, IRQ 9, MAC "
    mov si, my_mac
    call put_mac
    PRINT " (from its PROM), IP "
    mov si, my_ip
    call put_ip
    PRINT 10

    mov cl, 0
    call pic_unmask
    mov cl, NE_IRQ
    call pic_unmask
    sti

; The main loop: sleep until an interrupt, then look at the NIC and at the clock.
main_loop:
    cli
    cmp byte [nic_irq], 0
    jne .work
    mov eax, [ticks]
    cmp eax, [next_action]
    jae .work
    sti
    hlt
    jmp main_loop
.work:
    mov byte [nic_irq], 0
    sti
    call ne_service
    mov eax, [ticks]
    cmp eax, GIVE_UP_TICKS
    jae give_up
    cmp eax, [next_action]
    jb main_loop
    call on_timer
    jmp main_loop

on_timer:
    cmp byte [finished], 0
    jne done
    cmp byte [peer_known], 0
    jne .ping
    call send_announcement
    mov eax, [ticks]
    add eax, ANNOUNCE_TICKS
    mov [next_action], eax
    ret
.ping:
    cmp word [ping_seq], PINGS
    ja .idle
    call send_echo_request      ; (again, if the reply did not come)
    ret
.idle:
    mov eax, [ticks]
    add eax, RESEND_TICKS
    mov [next_action], eax
    ret

; Both directions are complete: stay a little longer, then report.
check_finished:
    cmp word [ping_seq], PINGS
    jbe .no
    cmp byte [answered], (1 << PINGS) - 1
    jne .no
    cmp byte [finished], 0
    jne .no
    mov byte [finished], 1
    mov eax, [ticks]
    add eax, LINGER_TICKS
    mov [next_action], eax
.no:
    ret

done:
    cli
    PRINT "net: "
    mov ax, PINGS
    call put_dec
    PRINT " echo requests sent, "
    mov ax, [replies]
    call put_dec
    PRINT " replies; answered the peer's "
    xor ax, ax
    mov al, [answered]
    xor cx, cx
.count:
    test al, al
    jz .counted
    shr al, 1
    adc cx, 0
    jmp .count
.counted:
    mov ax, cx
    call put_dec
    PRINT " echo requests", 10
    PRINT "net: done", 10
    xor al, al
    jmp debug_exit

give_up:
    cli
    PRINT "net: no answer from a peer in 60 s; giving up", 10
    mov al, 1
    jmp debug_exit

; ---- interrupts ----

timer_isr:
    inc dword [cs:ticks]
    push ax
    mov al, PIC_EOI
    out PIC1_CMD, al
    pop ax
    iret

; IRQ 9: the main loop does the work (all NIC registers are touched from one place, so the
; register page is never switched under someone's feet). The NIC keeps its line up until
; the main loop acknowledges ISR.
nic_isr:
    mov byte [cs:nic_irq], 1
    push ax
    mov al, PIC_EOI
    out PIC2_CMD, al
    out PIC1_CMD, al
    pop ax
    iret

; ---- the NE2000 ----

; CF on failure.
ne_init:
    mov dx, NE_RESET            ; reset: read the reset port, write the value back
    in al, dx
    out dx, al
    mov cx, 0xffff
.reset:
    mov dx, NE_ISR
    in al, dx
    test al, ISR_RST
    jnz .was_reset
    loop .reset
    stc
    ret
.was_reset:
    mov al, 0xff
    out dx, al                  ; acknowledge everything
    mov dx, NE_CR
    mov al, CR_STP | CR_RD_ABORT    ; page 0, stopped
    out dx, al
    mov dx, NE_DCR
    mov al, 0x48                ; byte-wide DMA, normal (not loopback) mode, FIFO 8 bytes
    out dx, al
    xor al, al
    mov dx, NE_RBCR0
    out dx, al
    mov dx, NE_RBCR1
    out dx, al
    mov dx, NE_RCR
    mov al, 0x20                ; monitor mode: nothing reaches the ring yet
    out dx, al
    mov dx, NE_TCR
    mov al, 0x02                ; internal loopback
    out dx, al

    ; The PROM: 12 bytes from NIC address 0, every other one is the MAC.
    xor ax, ax
    mov cx, 12
    call ne_dma_setup
    mov dx, NE_CR
    mov al, CR_RD_READ | CR_STA
    out dx, al
    mov dx, NE_DATA
    mov si, 0
.prom:
    in al, dx
    mov [my_mac + si], al
    in al, dx                   ; the copy
    inc si
    cmp si, 6
    jb .prom
    call ne_dma_done

    mov dx, NE_DCR
    mov al, 0x49                ; word-wide DMA from now on
    out dx, al
    mov dx, NE_TPSR
    mov al, TX_PAGE
    out dx, al
    mov dx, NE_PSTART
    mov al, RX_START
    out dx, al
    mov dx, NE_BNRY
    out dx, al
    mov dx, NE_PSTOP
    mov al, RX_STOP
    out dx, al
    mov dx, NE_ISR
    mov al, 0xff
    out dx, al
    mov dx, NE_IMR
    mov al, ISR_PRX | ISR_RXE | ISR_OVW     ; transmit completion is polled
    out dx, al

    mov dx, NE_CR
    mov al, CR_PAGE1 | CR_STP | CR_RD_ABORT
    out dx, al
    mov si, 0
    mov dx, NE_PAR0
.par:
    mov al, [my_mac + si]
    out dx, al
    inc dx
    inc si
    cmp si, 6
    jb .par
    xor al, al                  ; MAR0-7: no multicast groups
    mov dx, NE_MAR0
    mov cx, 8
.mar:
    out dx, al
    inc dx
    loop .mar
    mov dx, NE_CURR
    mov al, RX_START + 1
    out dx, al
    mov byte [next_pkt], RX_START + 1

    mov dx, NE_CR
    mov al, CR_STA | CR_RD_ABORT    ; page 0, started
    out dx, al
    mov dx, NE_TCR
    xor al, al                  ; out of loopback
    out dx, al
    mov dx, NE_RCR
    mov al, 0x04                ; AB: accept broadcasts (and frames to PAR0-5)
    out dx, al
    clc
    ret

; Remote DMA: AX = NIC address, CX = byte count (the command is given by the caller).
ne_dma_setup:
    push dx
    push ax
    mov dx, NE_RBCR0
    mov al, cl
    out dx, al
    mov dx, NE_RBCR1
    mov al, ch
    out dx, al
    pop ax
    mov dx, NE_RSAR0
    out dx, al
    mov dx, NE_RSAR1
    mov al, ah
    out dx, al
    pop dx
    ret

; Wait for the end of a remote DMA (ISR.RDC) and acknowledge it.
ne_dma_done:
    push ax
    push cx
    push dx
    mov dx, NE_ISR
    mov cx, 0xffff
.poll:
    in al, dx
    test al, ISR_RDC
    jnz .ok
    loop .poll
.ok:
    mov al, ISR_RDC
    out dx, al
    pop dx
    pop cx
    pop ax
    ret

; Remote DMA read: AX = NIC address, CX = bytes (rounded up to words), into ES:DI.
ne_read:
    push ax
    push cx
    push dx
    push di
    inc cx
    and cx, 0xfffe
    call ne_dma_setup
    mov dx, NE_CR
    mov al, CR_RD_READ | CR_STA
    out dx, al
    mov dx, NE_DATA
    shr cx, 1
    rep insw
    call ne_dma_done
    pop di
    pop dx
    pop cx
    pop ax
    ret

; Send the frame at TXBUF, CX bytes (padded to the Ethernet minimum of 60).
ne_send:
    push ax
    push cx
    push dx
    push si
    cmp cx, 60
    jae .long
    mov cx, 60
.long:
    mov [tx_len], cx
    inc cx
    and cx, 0xfffe
    mov ax, TX_PAGE << 8
    call ne_dma_setup
    mov dx, NE_CR
    mov al, CR_RD_WRITE | CR_STA
    out dx, al
    mov dx, NE_DATA
    mov si, TXBUF
    shr cx, 1
    rep outsw
    call ne_dma_done
    mov dx, NE_TPSR
    mov al, TX_PAGE
    out dx, al
    mov ax, [tx_len]
    mov dx, NE_TBCR0
    out dx, al
    mov dx, NE_TBCR1
    mov al, ah
    out dx, al
    mov dx, NE_CR
    mov al, CR_STA | CR_TXP | CR_RD_ABORT
    out dx, al
    mov dx, NE_ISR              ; wait for the transmission to end
    mov cx, 0xffff
.poll:
    in al, dx
    test al, ISR_PTX | ISR_TXE
    jnz .sent
    loop .poll
.sent:
    mov al, ISR_PTX | ISR_TXE
    out dx, al
    pop si
    pop dx
    pop cx
    pop ax
    ret

; Acknowledge the NIC's interrupt causes and take every frame out of the ring.
ne_service:
    mov dx, NE_ISR
    in al, dx
    and al, ISR_PRX | ISR_RXE | ISR_OVW
    out dx, al
.next:
    mov dx, NE_CR               ; CURR is on page 1
    mov al, CR_PAGE1 | CR_STA | CR_RD_ABORT
    out dx, al
    mov dx, NE_CURR
    in al, dx
    mov bl, al
    mov dx, NE_CR
    mov al, CR_STA | CR_RD_ABORT
    out dx, al
    cmp bl, [next_pkt]
    je .empty
    ; The 4-byte header: receive status, next packet page, byte count (header included).
    mov ah, [next_pkt]
    xor al, al
    mov cx, 4
    mov di, rx_header
    call ne_read
    mov cx, [rx_header + 2]
    sub cx, 4
    cmp cx, 1514
    ja .bad
    mov [rx_len], cx
    mov ah, [next_pkt]
    mov al, 4
    mov di, RXBUF
    call ne_read                ; (the remote DMA wraps at PSTOP, as the ring does)
    mov al, [rx_header + 1]
    call ne_release
    call handle_frame
    jmp .next
.bad:
    ; A header that makes no sense: drop everything up to CURR.
    mov al, bl
    call ne_release
    jmp .next
.empty:
    ret

; AL = the new next-packet page: BNRY trails it by one page.
ne_release:
    mov [next_pkt], al
    dec al
    cmp al, RX_START
    jae .set
    mov al, RX_STOP - 1
.set:
    mov dx, NE_BNRY
    out dx, al
    ret

; ---- protocols ----

; The frame at RXBUF, [rx_len] bytes.
handle_frame:
    cmp word [RXBUF + 12], ETH_ARP
    je arp_in
    cmp word [RXBUF + 12], ETH_IP
    je ip_in
    ret

; ARP for IPv4 over Ethernet: oper at +20, sender MAC/IP at +22/+28, target MAC/IP at +32/+38.
arp_in:
    cmp dword [RXBUF + 14], 0x00080100  ; htype 1, ptype 0800h (bytes 00 01 08 00)
    jne .nope
    cmp word [RXBUF + 18], 0x0406       ; hlen 6, plen 4
    jne .nope
    mov eax, [RXBUF + 28]
    cmp eax, [my_ip]
    je .nope                    ; our own address, from someone else: ignore
    mov si, RXBUF + 22
    call learn_peer
    cmp word [RXBUF + 20], 0x0100   ; oper 1: request
    jne .nope
    mov eax, [RXBUF + 38]
    cmp eax, [my_ip]
    jne .nope
    ; A request for us: answer to the sender.
    call eth_reply_header
    mov word [TXBUF + 12], ETH_ARP
    mov dword [TXBUF + 14], 0x00080100
    mov word [TXBUF + 18], 0x0406
    mov word [TXBUF + 20], 0x0200   ; oper 2: reply
    mov si, my_mac
    mov di, TXBUF + 22
    mov cx, 6
    rep movsb
    mov eax, [my_ip]
    mov [TXBUF + 28], eax
    mov si, RXBUF + 22
    mov di, TXBUF + 32
    mov cx, 10                  ; their MAC and IP become the target
    rep movsb
    mov cx, 42
    call ne_send
.nope:
    ret

; Learn the peer from a MAC at DS:SI followed by its IPv4 address (the ARP layout).
learn_peer:
    cmp byte [peer_known], 0
    jne .known
    push si
    mov di, peer_mac
    mov cx, 10
    rep movsb
    pop si
    mov byte [peer_known], 1
    PRINT "net: peer "
    mov si, peer_ip
    call put_ip
    PRINT " is at "
    mov si, peer_mac
    call put_mac
    PRINT 10
    ; Ping it now.
    mov eax, [ticks]
    mov [next_action], eax
.known:
    ret

; IPv4: checked, then ICMP echo requests and replies for us.
ip_in:
    cmp byte [RXBUF + 14], 0x45     ; version 4, 20-byte header
    jne .nope
    mov eax, [RXBUF + 30]
    cmp eax, [my_ip]
    jne .nope
    cmp byte [RXBUF + 23], 1        ; ICMP
    jne .nope
    mov si, RXBUF + 14
    mov cx, 20
    call checksum
    test ax, ax                     ; a correct header sums to 0 (complemented: FFFFh -> 0)
    jnz .nope
    mov cx, [RXBUF + 16]            ; total length (big-endian)
    xchg cl, ch
    sub cx, 20
    jbe .nope
    mov [icmp_len], cx
    mov si, RXBUF + 34
    call checksum
    test ax, ax
    jnz .nope
    cmp byte [RXBUF + 34], 8        ; echo request
    je echo_request_in
    cmp byte [RXBUF + 34], 0        ; echo reply
    je echo_reply_in
.nope:
    ret

echo_request_in:
    ; Learn the sender if we did not know it yet (its MAC from the Ethernet header).
    cmp byte [peer_known], 0
    jne .answer
    mov si, RXBUF + 6
    mov di, arp_scratch
    mov cx, 6
    rep movsb
    mov eax, [RXBUF + 26]
    mov [arp_scratch + 6], eax
    mov si, arp_scratch
    call learn_peer
.answer:
    ; The reply is the request with the addresses swapped and type 0.
    call eth_reply_header
    mov word [TXBUF + 12], ETH_IP
    mov si, RXBUF + 14
    mov di, TXBUF + 14
    mov cx, [icmp_len]
    add cx, 20
    push cx
    rep movsb
    mov eax, [RXBUF + 26]
    mov [TXBUF + 30], eax
    mov eax, [my_ip]
    mov [TXBUF + 26], eax
    mov byte [TXBUF + 22], 64       ; TTL
    call ip_checksum_tx
    mov byte [TXBUF + 34], 0        ; echo reply
    mov word [TXBUF + 36], 0
    mov si, TXBUF + 34
    mov cx, [icmp_len]
    call checksum
    mov [TXBUF + 36], ax
    pop cx
    add cx, 14
    call ne_send
    ; Which of the peer's requests (sequence 1-4) have been answered.
    mov ax, [RXBUF + 40]            ; sequence number (big-endian)
    xchg al, ah
    cmp ax, 1
    jb .done
    cmp ax, PINGS
    ja .done
    mov cl, al
    dec cl
    mov al, 1
    shl al, cl
    or [answered], al
    call check_finished
.done:
    ret

echo_reply_in:
    cmp word [RXBUF + 38], ((ICMP_ID & 0xff) << 8) | (ICMP_ID >> 8)
    jne .nope
    mov ax, [RXBUF + 40]
    xchg al, ah
    cmp ax, [ping_seq]
    jne .nope                       ; a late duplicate
    PRINT "net: reply from "
    mov si, RXBUF + 26
    call put_ip
    PRINT ": icmp_seq="
    mov ax, [ping_seq]
    call put_dec
    PRINT " ttl="
    movzx ax, byte [RXBUF + 22]
    call put_dec
    PRINT 10
    inc word [replies]
    inc word [ping_seq]
    mov eax, [ticks]                ; the next one now
    mov [next_action], eax
    call check_finished
.nope:
    ret

; An echo request to the peer with sequence [ping_seq]; the resend timer starts.
send_echo_request:
    mov si, peer_mac
    mov di, TXBUF
    mov cx, 6
    rep movsb
    mov si, my_mac
    mov cx, 6
    rep movsb
    mov word [TXBUF + 12], ETH_IP
    mov byte [TXBUF + 14], 0x45
    mov byte [TXBUF + 15], 0
    mov word [TXBUF + 16], ((20 + 8 + PAYLOAD_LEN) << 8) & 0xff00   ; total length, big-endian
    mov ax, [ip_id]
    inc word [ip_id]
    xchg al, ah
    mov [TXBUF + 18], ax
    mov word [TXBUF + 20], 0        ; no fragments
    mov byte [TXBUF + 22], 64       ; TTL
    mov byte [TXBUF + 23], 1        ; ICMP
    mov eax, [my_ip]
    mov [TXBUF + 26], eax
    mov eax, [peer_ip]
    mov [TXBUF + 30], eax
    call ip_checksum_tx
    mov word [TXBUF + 34], 0x0008   ; type 8, code 0
    mov word [TXBUF + 36], 0
    mov word [TXBUF + 38], ((ICMP_ID & 0xff) << 8) | (ICMP_ID >> 8)
    mov ax, [ping_seq]
    xchg al, ah
    mov [TXBUF + 40], ax
    mov si, payload
    mov di, TXBUF + 42
    mov cx, PAYLOAD_LEN
    rep movsb
    mov si, TXBUF + 34
    mov cx, 8 + PAYLOAD_LEN
    call checksum
    mov [TXBUF + 36], ax
    mov cx, 14 + 20 + 8 + PAYLOAD_LEN
    call ne_send
    mov eax, [ticks]
    add eax, RESEND_TICKS
    mov [next_action], eax
    ret

; A gratuitous ARP request (sender = target = our address), to everyone.
send_announcement:
    mov di, TXBUF
    mov al, 0xff
    mov cx, 6
    rep stosb
    mov si, my_mac
    mov cx, 6
    rep movsb
    mov word [TXBUF + 12], ETH_ARP
    mov dword [TXBUF + 14], 0x00080100
    mov word [TXBUF + 18], 0x0406
    mov word [TXBUF + 20], 0x0100   ; request
    mov si, my_mac
    mov di, TXBUF + 22
    mov cx, 6
    rep movsb
    mov eax, [my_ip]
    mov [TXBUF + 28], eax
    mov di, TXBUF + 32
    xor al, al
    mov cx, 6
    rep stosb
    mov eax, [my_ip]
    mov [TXBUF + 38], eax
    mov cx, 42
    jmp ne_send

; Ethernet header of a reply: to the received frame's source, from us.
eth_reply_header:
    mov si, RXBUF + 6
    mov di, TXBUF
    mov cx, 6
    rep movsb
    mov si, my_mac
    mov cx, 6
    rep movsb
    ret

ip_checksum_tx:
    mov word [TXBUF + 24], 0
    mov si, TXBUF + 14
    mov cx, 20
    call checksum
    mov [TXBUF + 24], ax
    ret

; The Internet checksum of CX bytes at DS:SI: AX = the complemented one's-complement sum
; (0 when the data already holds a correct checksum). Summing little-endian words gives the
; byte-swapped sum, which stored back little-endian is the right bytes on the wire.
checksum:
    push bx
    push cx
    push si
    xor bx, bx
    shr cx, 1
    pushf
.word:
    jcxz .odd
    lodsw
    add bx, ax
    adc bx, 0
    dec cx
    jmp .word
.odd:
    popf
    jnc .folded
    xor ax, ax
    lodsb
    add bx, ax
    adc bx, 0
.folded:
    mov ax, bx
    not ax
    pop si
    pop cx
    pop bx
    ret

; Printing addresses: DS:SI = 6 bytes of MAC / 4 bytes of IPv4.
put_mac:
    push ax
    push cx
    push si
    mov cx, 6
.byte:
    lodsb
    call put_hex8
    dec cx
    jz .done
    mov al, ':'
    call con_putc
    jmp .byte
.done:
    pop si
    pop cx
    pop ax
    ret

put_ip:
    push ax
    push cx
    push si
    mov cx, 4
.byte:
    xor ax, ax
    lodsb
    call put_dec
    dec cx
    jz .done
    mov al, '.'
    call con_putc
    jmp .byte
.done:
    pop si
    pop cx
    pop ax
    ret

%include "lib/console.inc"
%include "lib/uart.inc"
%include "lib/vga.inc"
%include "lib/pic.inc"
%include "lib/exit.inc"

payload:    db "abcdefghijklmnopqrstuvwabcdefghi"
ticks:      dd 0
next_action: dd 0
my_mac:     times 6 db 0
my_ip:      dd 0
peer_mac:   times 6 db 0        ; (peer_ip must follow peer_mac: learn_peer copies both)
peer_ip:    dd 0
arp_scratch: times 10 db 0
rx_header:  times 4 db 0
rx_len:     dw 0
tx_len:     dw 0
icmp_len:   dw 0
ip_id:      dw 1
ping_seq:   dw 1
replies:    dw 0
answered:   db 0
peer_known: db 0
finished:   db 0
nic_irq:    db 0
next_pkt:   db 0

%include "lib/stage1-end.inc"
