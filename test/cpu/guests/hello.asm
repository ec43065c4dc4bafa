; Smallest guest: protected mode, print, a #UD, exit. Checks the harness itself.
%include "common.inc"

main32:
    PRINT "hello from protected mode"
    NL
    SET_RESUME .after
    ud2
.after:
    PRINT "resumed"
    NL
    jmp exit

%include "tail.inc"
