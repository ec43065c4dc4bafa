; The integer instructions on random and edge-case operands (0, -1, 0x80000000, ...): for
; each form, 500 runs with random operands and random incoming flags, hashing the result
; registers and the flags the SDM defines for that instruction (undefined ones masked).
; One line per form: its name and the hash. Covers 8/16/32-bit ALU, shifts and rotates by 1
; and by CL, SHLD/SHRD, MUL/IMUL/DIV/IDIV, BSF/BSR, BT*, BCD adjusts, conditions, XADD,
; CMPXCHG, BSWAP, MOVSX/MOVZX.
%include "common.inc"

%define SEED  0xB000
%define HASH  0xB004
%define COUNT 0xB008
%define ITER  500

%define ALLF  0x8d5
%define CF 0x001
%define PF 0x004
%define AF 0x010
%define ZF 0x040
%define SF 0x080
%define OF 0x800

; RUN name, mask-setup, body. Operands: EAX, EBX, ECX (CL = count), EDX random. The
; mask-setup code runs before the random flags are loaded and must leave the mask of
; defined flags in EDI; the body runs with them. Hashed: EAX, EBX, ECX, EDX, flags & EDI.
%macro RUN 3+
    PRINT %1
    PRINT " "
    mov dword [HASH], 0
    mov dword [SEED], 0x1234567
    mov dword [COUNT], ITER
%%loop:
    call rnd
    mov ebx, eax
    call rnd
    mov ecx, eax
    call rnd
    mov edx, eax
    call rnd
    mov ebp, eax
    call rnd
    xchg eax, ebp               ; EBP: random flags
    mov edi, ALLF
    %2
    and ebp, ALLF
    or ebp, 2
    push ebp
    popfd
    %3
    pushfd
    pop esi
    and esi, edi
    call mix
    dec dword [COUNT]
    jnz %%loop
    HEX [HASH], 8
    NL
%endmacro

%macro MASK 1
    mov edi, %1
%endmacro

main32:
    ; ---- ADD ADC SUB SBB AND OR XOR CMP, three sizes ----
%macro ALU3 2                   ; op, mask
    RUN %str(%1 r8), MASK %2, %1 al, bl
    RUN %str(%1 r16), MASK %2, %1 ax, bx
    RUN %str(%1 r32), MASK %2, %1 eax, ebx
%endmacro
    ALU3 add, ALLF
    ALU3 adc, ALLF
    ALU3 sub, ALLF
    ALU3 sbb, ALLF
    ALU3 and, ALLF & ~AF
    ALU3 or, ALLF & ~AF
    ALU3 xor, ALLF & ~AF
    ALU3 cmp, ALLF
    ALU3 test, ALLF & ~AF
    RUN "add r32 imm8", MASK ALLF, add eax, -3
    RUN "sub r16 imm8", MASK ALLF, sub ax, 0x7f
    RUN "adc r8 imm", MASK ALLF, adc al, 0x80
%macro UNARY 2
    RUN %str(%1 r8), MASK %2, %1 al
    RUN %str(%1 r16), MASK %2, %1 ax
    RUN %str(%1 r32), MASK %2, %1 eax
%endmacro
    UNARY inc, ALLF
    UNARY dec, ALLF
    UNARY neg, ALLF
    UNARY not, ALLF

    ; ---- shifts and rotates ----
%macro SH1 1
    RUN %str(%1 r8 1), MASK ALLF & ~AF, %1 al, 1
    RUN %str(%1 r16 1), MASK ALLF & ~AF, %1 ax, 1
    RUN %str(%1 r32 1), MASK ALLF & ~AF, %1 eax, 1
%endmacro
    SH1 shl
    SH1 shr
    SH1 sar
    SH1 rol
    SH1 ror
    SH1 rcl
    SH1 rcr
%macro SHCL 1
    RUN %str(%1 r8 cl), call shiftmask8, %1 al, cl
    RUN %str(%1 r16 cl), call shiftmask16, %1 ax, cl
    RUN %str(%1 r32 cl), call shiftmask32, %1 eax, cl
%endmacro
    SHCL shl
    SHCL shr
    SHCL sar
%macro ROCL 1
    RUN %str(%1 r8 cl), call rotmask, %1 al, cl
    RUN %str(%1 r16 cl), call rotmask, %1 ax, cl
    RUN %str(%1 r32 cl), call rotmask, %1 eax, cl
%endmacro
    ROCL rol
    ROCL ror
    ROCL rcl
    ROCL rcr
    RUN "shl r32 imm", MASK CF | SF | ZF | PF, shl eax, 7
    RUN "sar r16 imm", MASK CF | SF | ZF | PF, sar ax, 9
    RUN "rol r8 imm", MASK CF, rol al, 3
    RUN "shld r32 cl", call shiftmask32, shld eax, ebx, cl
    RUN "shrd r32 cl", call shiftmask32, shrd eax, ebx, cl
    RUN "shld r16 cl", call shdmask16, shld ax, bx, cl
    RUN "shrd r16 cl", call shdmask16, shrd ax, bx, cl
    RUN "shld r32 imm", MASK CF | SF | ZF | PF, shld eax, ebx, 13

    ; ---- multiply and divide ----
    RUN "mul r8", MASK CF | OF, mul bl
    RUN "mul r16", MASK CF | OF, mul bx
    RUN "mul r32", MASK CF | OF, mul ebx
    RUN "imul r8", MASK CF | OF, imul bl
    RUN "imul r16", MASK CF | OF, imul bx
    RUN "imul r32", MASK CF | OF, imul ebx
    RUN "imul r16 r16", MASK CF | OF, imul ax, bx
    RUN "imul r32 r32", MASK CF | OF, imul eax, ebx
    RUN "imul r32 imm", MASK CF | OF, imul eax, ebx, -12345
    RUN "imul r16 imm8", MASK CF | OF, imul ax, bx, 100
    RUN "div r8", call divsetup8, div bl
    RUN "div r16", call divsetup16, div bx
    RUN "div r32", call divsetup32, div ebx
    RUN "idiv r8", call idivsetup8, idiv bl
    RUN "idiv r16", call idivsetup16, idiv bx
    RUN "idiv r32", call idivsetup32, idiv ebx

    ; ---- bits ----
    RUN "bsf r32", call nonzero, bsf eax, ebx
    RUN "bsr r32", call nonzero, bsr eax, ebx
    RUN "bsf r16", call nonzero, bsf ax, bx
    RUN "bsr r16", call nonzero, bsr ax, bx
    RUN "bt r32", MASK CF, bt eax, ebx
    RUN "bts r32", MASK CF, bts eax, ebx
    RUN "btr r16", MASK CF, btr ax, bx
    RUN "btc r32 imm", MASK CF, btc eax, 37
    RUN "bswap", MASK ALLF, bswap eax

    ; ---- BCD ----
    RUN "daa", MASK ALLF & ~OF, daa
    RUN "das", MASK ALLF & ~OF, das
    RUN "aaa", MASK CF | AF, aaa
    RUN "aas", MASK CF | AF, aas
    RUN "aam", MASK SF | ZF | PF, aam 10
    RUN "aad", MASK SF | ZF | PF, aad 10

    ; ---- conditions: all 16 after several kinds of flag producers ----
%macro CC 2+                    ; a flag producer, then the 16 conditions into ECX
    %2
    call allcc
%endmacro
    RUN "setcc after cmp", MASK ALLF, CC 0, cmp eax, ebx
    RUN "setcc after sub r8", MASK ALLF, CC 0, sub al, bl
    RUN "setcc after add r16", MASK ALLF, CC 0, add ax, bx
    RUN "setcc after inc", MASK ALLF, CC 0, inc eax
    RUN "setcc after and", MASK ALLF & ~AF, CC 0, and eax, ebx
    RUN "setcc after sbb", MASK ALLF, CC 0, sbb eax, ebx
    RUN "setcc after neg", MASK ALLF, CC 0, neg bl
    RUN "setcc after shl", call shiftmask32, CC 0, shl edx, cl
%macro CMOVS 0
    cmp eax, ebx
    cmovl ecx, edx
    cmovbe eax, ebx
    cmovp edx, eax
%endmacro
    RUN "cmov after cmp", MASK ALLF, CMOVS

    ; ---- the rest ----
    RUN "xadd r32", MASK ALLF, xadd eax, ebx
    RUN "cmpxchg r32", call maybe_equal, cmpxchg ecx, edx
    RUN "cmpxchg r8", call maybe_equal, cmpxchg cl, dl
%macro MOVX 0
    movsx eax, bl
    movzx edx, bh
    movsx cx, dl
%endmacro
    RUN "movsx movzx", MASK ALLF, MOVX
%macro CONVERT 0
    cbw
    cwde
    cwd
    cdq
%endmacro
    RUN "cbw cwde cwd cdq", MASK ALLF, CONVERT
%macro LEAS 0
    lea eax, [ebx + ecx*4 + 0x12345]
    lea dx, [bx + si + 7]
%endmacro
    RUN "lea", MASK ALLF, LEAS
%macro FLAGS8 0
    mov ah, bl
    sahf
    lahf
%endmacro
    RUN "sahf lahf", MASK ALLF, FLAGS8
    PRINT "done"
    NL
    jmp exit

; ---- helpers ----

rnd:                            ; EAX: xorshift32, biased towards edge cases
    mov eax, [SEED]
    push edx
    mov edx, eax
    shl edx, 13
    xor eax, edx
    mov edx, eax
    shr edx, 17
    xor eax, edx
    mov edx, eax
    shl edx, 5
    xor eax, edx
    mov [SEED], eax
    mov edx, eax
    shr edx, 28
    cmp edx, 0
    je .zero
    cmp edx, 1
    je .ones
    cmp edx, 2
    je .min
    cmp edx, 3
    je .max
    cmp edx, 4
    je .small
    cmp edx, 5
    je .byte
    pop edx
    ret
.zero:
    xor eax, eax
    pop edx
    ret
.ones:
    or eax, -1
    pop edx
    ret
.min:
    and eax, 0x800000ff         ; a byte's worth of variety around 0x80000000 / 0x80
    or eax, 0x80000000
    pop edx
    ret
.max:
    or eax, 0x7fffff00
    and eax, 0x7fffffff
    pop edx
    ret
.small:
    and eax, 0x1f
    pop edx
    ret
.byte:
    and eax, 0x80ff807f
    pop edx
    ret

mix:                            ; hash <- mix(hash, EAX, EBX, ECX, EDX, ESI)
    push eax
    push edi
    mov edi, [HASH]
    rol edi, 7
    xor edi, eax
    add edi, 0x9e3779b9
    rol edi, 7
    xor edi, ebx
    add edi, 0x9e3779b9
    rol edi, 7
    xor edi, ecx
    add edi, 0x9e3779b9
    rol edi, 7
    xor edi, edx
    add edi, 0x9e3779b9
    rol edi, 7
    xor edi, esi
    add edi, 0x9e3779b9
    mov [HASH], edi
    pop edi
    pop eax
    ret

; Defined flags of SHL/SHR/SAR by CL: none change for a count of 0, AF never, OF only for
; a count of 1, CF not once the count reaches the operand width.
%macro SHMASK 2
%1:
    push ecx
    and ecx, 31
    mov edi, ALLF
    jz .done
    mov edi, CF | SF | ZF | PF | OF
    cmp ecx, 1
    je .done
    mov edi, CF | SF | ZF | PF
    cmp ecx, %2
    jb .done
    mov edi, SF | ZF | PF
.done:
    pop ecx
    ret
%endmacro
    SHMASK shiftmask8, 8
    SHMASK shiftmask16, 16
    SHMASK shiftmask32, 32

rotmask:                        ; rotates by CL: CF (count != 0), OF only for 1
    push ecx
    and ecx, 31
    mov edi, ALLF
    jz .done
    mov edi, CF | OF
    cmp ecx, 1
    je .done
    mov edi, CF
.done:
    pop ecx
    ret

shdmask16:                      ; SHLD/SHRD r16: counts above 16 are undefined; keep to 0-15
    and ecx, 15
    jmp shiftmask16

divsetup8:                      ; AH < BL: no #DE
    or bl, 0x80
    and ah, 0x7f
    mov edi, 0
    ret
divsetup16:
    or bx, 0x8000
    and dx, 0x7fff
    mov edi, 0
    ret
divsetup32:
    or ebx, 0x80000000
    and edx, 0x7fffffff
    mov edi, 0
    ret
; IDIV: a divisor of at least 3 in magnitude and a sign-extended dividend cannot overflow.
idivsetup8:
    and bl, 0x3c
    or bl, 3
    test bh, 1
    jz .pos
    neg bl
.pos:
    cbw
    mov edi, 0
    ret
idivsetup16:
    and bx, 0x3ffc
    or bx, 3
    test ecx, 0x100
    jz .pos
    neg bx
.pos:
    cwd
    mov edi, 0
    ret
idivsetup32:
    and ebx, 0x3ffffffc
    or ebx, 3
    test ecx, 0x100
    jz .pos
    neg ebx
.pos:
    cdq
    mov edi, 0
    ret

nonzero:                        ; BSF/BSR: a non-zero source, only ZF defined
    or ebx, 0x00400000
    or bx, 0x0100
    mov edi, ZF
    ret

maybe_equal:                    ; CMPXCHG: make the accumulator match half of the time
    test ebx, 1
    jz .keep
    mov eax, ecx
.keep:
    mov edi, ALLF
    ret

allcc:                          ; ECX <- the 16 conditions as bits (flags untouched)
    push eax
    xor ecx, ecx
%assign cc 0
%rep 16
    db 0x0f, 0x90 + cc, 0xc0    ; setcc al
    shl ecx, 1
    or cl, al
%assign cc cc+1
%endrep
    pop eax
    ret

%include "tail.inc"
