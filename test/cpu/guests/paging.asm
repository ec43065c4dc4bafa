; Paging: 4 KiB pages and a 4 MiB PSE page, #PF error codes and CR2 (supervisor and user,
; read, write, fetch, page-crossing), CR0.WP, A/D bits in PTEs and in the 4 MiB PDE,
; INVLPG and CR3 reloads, and a REP MOVSB that faults halfway and reports its progress.
; (The 386's "PDE A stays clear when the PTE is not present" is a unit test: QEMU sets it.)
%include "common.inc"

%define PD   0x20000
%define PT0  0x21000
%define PTE(a)  (PT0 + ((a) >> 12) * 4)

%macro TEST 1
    PRINT %1
    PRINT ": "
%endmacro

%macro OK 0
    PRINT "ok"
    NL
%endmacro

%macro CR2 0
    PRINT "  cr2="
    mov eax, cr2
    HEX eax, 8
    NL
%endmacro

%macro RING3 1              ; continue at %1 in ring 3 (DS/ES/SS = DPL 3 data)
    mov ax, SEL_DATA3       ; DPL 0 data selectors would be nulled by the IRET
    mov ds, ax
    mov es, ax
    push dword SEL_DATA3
    push dword STACK3
    push dword 0x2
    push dword SEL_CODE3
    push dword %1
    iretd
%endmacro

main32:
    mov edi, PT0
    mov eax, 7
    mov ecx, 1024
.fill:
    stosd
    add eax, 0x1000
    loop .fill
    mov dword [PTE(0x30000)], 0
    mov dword [PTE(0x31000)], 0x31000 | 5       ; read-only, user
    mov dword [PTE(0x32000)], 0x32000 | 3       ; supervisor only
    mov dword [PTE(0x33000)], 0x34000 | 7       ; alias of 0x34000
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PD], PT0 | 7
    mov dword [PD + 4], 0x87                    ; 4 MiB page: 4M..8M -> 0..4M
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp .paged
.paged:
    TEST "read not present"
    SET_RESUME .t1
    mov eax, [0x30000]
    OK
.t1:
    CR2
    TEST "write not present"
    SET_RESUME .t2
    mov dword [0x30004], 1
    OK
.t2:
    CR2
    TEST "fetch not present"
    SET_RESUME .t3
    call 0x30010
    OK
.t3:
    CR2
    TEST "read across into not present"
    SET_RESUME .t4
    mov eax, [0x2fffe]
    OK
.t4:
    CR2
    TEST "write read-only, WP=0"
    SET_RESUME .t5
    mov dword [0x31000], 0x11
    OK
.t5:
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax
    TEST "write read-only, WP=1"
    SET_RESUME .t6
    mov dword [0x31004], 0x22
    OK
.t6:
    CR2
    TEST "A/D of a PTE"
    HEX [PTE(0x35000)], 3
    mov eax, [0x35000]
    PRINT " read "
    HEX [PTE(0x35000)], 3
    mov [0x35000], eax
    PRINT " write "
    HEX [PTE(0x35000)], 3
    PRINT " pde "
    HEX [PD], 3
    NL
    TEST "4 MiB page"
    mov dword [0x36000], 0x12345678
    mov eax, [0x436000]
    HEX eax, 8
    PRINT " pde "
    HEX [PD + 4], 3
    mov dword [0x436004], 0xcafe
    PRINT " after write "
    HEX [PD + 4], 3
    PRINT " "
    HEX [0x36004], 8
    NL
    TEST "alias"
    mov dword [0x34000], 0xaabbccdd
    HEX [0x33000], 8
    NL
    TEST "invlpg"
    mov dword [0x37000], 0x37373737
    mov dword [PTE(0x33000)], 0x37000 | 7
    invlpg [0x33000]
    HEX [0x33000], 8
    NL
    TEST "cr3 reload"
    mov dword [0x38000], 0x38383838
    mov dword [PTE(0x33000)], 0x38000 | 7
    mov eax, cr3
    mov cr3, eax
    HEX [0x33000], 8
    NL
    TEST "rep movsb into a hole"
    mov esi, 0x2fff0
    mov edi, 0x40000
    mov ecx, 0x20
    SET_RESUME .t7
    rep movsb
    OK
.t7:
    PRINT "  ecx="
    HEX ecx, 8
    PRINT " esi="
    HEX esi, 8
    PRINT " edi="
    HEX edi, 8
    NL
    TEST "rep stosd reversed into a hole"
    std
    mov edi, 0x31008            ; read-only page (WP=1): faults on the first store
    mov ecx, 4
    mov eax, 0x55
    SET_RESUME .t8
    rep stosd
    OK
.t8:
    cld
    PRINT "  ecx="
    HEX ecx, 8
    PRINT " edi="
    HEX edi, 8
    NL
    TEST "user read supervisor"
    SET_RESUME .u1
    RING3 .r1
.r1:
    mov eax, [0x32000]
    int 0x30
.u1:
    CR2
    TEST "user write read-only"
    SET_RESUME .u2
    RING3 .r2
.r2:
    mov dword [0x31000], 1
    int 0x30
.u2:
    CR2
    TEST "user read not present"
    SET_RESUME .u3
    RING3 .r3
.r3:
    mov eax, [0x30000]
    int 0x30
.u3:
    CR2
    TEST "user write supervisor"
    SET_RESUME .u4
    RING3 .r4
.r4:
    mov dword [0x32000], 1
    int 0x30
.u4:
    CR2
    TEST "user read user page"
    SET_RESUME .u5
    RING3 .r5
.r5:
    mov eax, [0x35000]
    int 0x30
.u5:
    TEST "user read 4 MiB page"
    SET_RESUME .u6
    RING3 .r6
.r6:
    mov eax, [0x436000]
    int 0x30
.u6:
    PRINT "done"
    NL
    jmp exit

%include "tail.inc"
