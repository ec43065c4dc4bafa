; clock: timer interrupts and the real-time clock, as an operating system's clock driver
; uses them.
;
; - The 8254 PIT, channel 0, runs in mode 2 (rate generator) at 100 Hz; each tick is IRQ 0,
;   delivered through the 8259 PIC (remapped to vectors 20h-2Fh) to a real-mode handler
;   that counts ticks and acknowledges the PIC with an EOI. The main loop sleeps in HLT.
; - Every 100 ticks (one second of PIT time) it reads the MC146818 RTC through the CMOS
;   ports 70h/71h the careful way: wait until Register A's UIP (update in progress) is clear,
;   read seconds through year and the century byte (32h), and read again until two readings
;   agree, so an update between two bytes cannot tear the time. Register B is set to 24-hour
;   BCD first, as a PC BIOS leaves it; the digits are printed as they are (BCD needs none).
; - After three seconds it ends through isa-debug-exit with 0 (host status 1).
;
; Output (COM1 and VGA), one line a second; the RTC time is the host's UTC time, so a test
; compares it with the host clock rather than as text:
;   clock: 1 s (100 ticks of IRQ 0), RTC 2025-01-31 12:34:56 UTC
;
; Run: node bin/hvmon.js run guests/clock.img --display none --device isa-debug-exit,iobase=0xf4,iosize=1

%include "lib/stage1.inc"

PIT_CH0     equ 0x40
PIT_MODE    equ 0x43
PIT_HZ      equ 100
PIT_DIVISOR equ (1193182 + PIT_HZ / 2) / PIT_HZ
CMOS_INDEX  equ 0x70
CMOS_DATA   equ 0x71
RTC_SEC     equ 0x00
RTC_MIN     equ 0x02
RTC_HOUR    equ 0x04
RTC_DAY     equ 0x07
RTC_MONTH   equ 0x08
RTC_YEAR    equ 0x09
RTC_REG_A   equ 0x0a
RTC_REG_B   equ 0x0b
RTC_REG_C   equ 0x0c
RTC_CENTURY equ 0x32
REG_A_UIP   equ 0x80
SECONDS     equ 3

main:
    call uart_init
    mov byte [vga_attr], 0x1f
    call vga_clear
    PRINT "clock: PIT channel 0 at 100 Hz on IRQ 0, RTC on CMOS ports 70h/71h", 10

    call pic_init
    mov bl, IRQ_BASE + 0
    mov ax, timer_isr
    call set_vector

    ; PIT: channel 0, lobyte/hibyte, mode 2 (rate generator), binary; then the divisor.
    mov al, 0x34
    out PIT_MODE, al
    mov ax, PIT_DIVISOR
    out PIT_CH0, al
    mov al, ah
    out PIT_CH0, al

    ; RTC: 32.768 kHz time base (Register A = 26h), 24-hour BCD and no interrupts
    ; (Register B = 02h); reading Register C clears any old interrupt flags.
    mov ah, RTC_REG_A
    mov al, 0x26
    call cmos_write
    mov ah, RTC_REG_B
    mov al, 0x02
    call cmos_write
    mov al, RTC_REG_C
    call cmos_read

    mov cl, 0
    call pic_unmask
    sti

.wait:
    hlt                         ; sleep until the next interrupt
    mov eax, [ticks]
    cmp eax, [next_report]
    jb .wait
    add dword [next_report], PIT_HZ
    inc word [seconds]
    call report
    cmp word [seconds], SECONDS
    jb .wait

    cli
    PRINT "clock: done", 10
    xor al, al
    jmp debug_exit

; IRQ 0: count the tick, then end the interrupt at the PIC.
timer_isr:
    inc dword [cs:ticks]
    push ax
    mov al, PIC_EOI
    out PIC1_CMD, al
    pop ax
    iret

; "clock: N s (T ticks of IRQ 0), RTC YYYY-MM-DD hh:mm:ss UTC"
report:
    call rtc_read_time
    PRINT "clock: "
    mov ax, [seconds]
    call put_dec
    PRINT " s ("
    mov eax, [next_report]      ; the tick count that ended this second
    sub eax, PIT_HZ
    call put_dec32
    PRINT " ticks of IRQ 0), RTC "
    mov al, [time + 6]          ; century
    call put_bcd
    mov al, [time + 5]          ; year
    call put_bcd
    mov al, '-'
    call con_putc
    mov al, [time + 4]          ; month
    call put_bcd
    mov al, '-'
    call con_putc
    mov al, [time + 3]          ; day
    call put_bcd
    mov al, ' '
    call con_putc
    mov al, [time + 2]          ; hours
    call put_bcd
    mov al, ':'
    call con_putc
    mov al, [time + 1]          ; minutes
    call put_bcd
    mov al, ':'
    call con_putc
    mov al, [time + 0]          ; seconds
    call put_bcd
    PRINT " UTC", 10
    ret

; Read the RTC into [time] (seconds, minutes, hours, day, month, year, century) so that no
; update cycle falls in the middle: wait for UIP = 0, read everything, and repeat until two
; consecutive readings are equal.
rtc_read_time:
    push ax
    push cx
    push si
    push di
.again:
    call .snapshot
    mov si, time
    mov di, time_check
    mov cx, 7
.copy:
    mov al, [si]
    mov [di], al
    inc si
    inc di
    loop .copy
    call .snapshot
    mov si, time
    mov di, time_check
    mov cx, 7
    repe cmpsb
    jne .again
    pop di
    pop si
    pop cx
    pop ax
    ret
.snapshot:
    mov al, RTC_REG_A
    call cmos_read
    test al, REG_A_UIP
    jnz .snapshot
    mov si, rtc_regs
    mov di, time
    mov cx, 7
.one:
    mov al, [si]
    call cmos_read
    mov [di], al
    inc si
    inc di
    loop .one
    ret

; AL = CMOS location -> AL = its value.
cmos_read:
    out CMOS_INDEX, al
    in al, CMOS_DATA
    ret

; AH = CMOS location, AL = value.
cmos_write:
    xchg al, ah
    out CMOS_INDEX, al
    xchg al, ah
    out CMOS_DATA, al
    ret

%include "lib/console.inc"
%include "lib/uart.inc"
%include "lib/vga.inc"
%include "lib/pic.inc"
%include "lib/exit.inc"

ticks:       dd 0
next_report: dd PIT_HZ
seconds:     dw 0
rtc_regs:    db RTC_SEC, RTC_MIN, RTC_HOUR, RTC_DAY, RTC_MONTH, RTC_YEAR, RTC_CENTURY
time:        times 7 db 0
time_check:  times 7 db 0

%include "lib/stage1-end.inc"
