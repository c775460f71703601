/*
 * dirty.S: a Multiboot (v1) kernel that dirties guest memory at a chosen rate, so the lab can
 * create guests of known dirty behaviour for the convergence forecast (tests/lab/dirty_guest.py).
 *
 * Kernel command line (libvirt <os><cmdline>, passed by QEMU's multiboot loader after the file
 * name): space-separated key=value, all decimal, all optional
 *   ws=MiB     working set size (default 64), clamped to the RAM above base
 *   pps=N      pages written per second (default 0: the guest only idles)
 *   base=MiB   where the working set starts (default 16; the kernel sits at 1 MiB)
 *
 * What it does: loads its own GDT and IDT, remaps the PIC to vectors 0x20-0x2f, programs PIT
 * channel 0 at ~1000 Hz and sleeps in `hlt` between ticks.  At boot it touches every page of the
 * working set once (so the working set is non-zero RAM from the start and everything else stays
 * zero pages).  Then, per tick, it writes pps/1000 pages (the fraction carried over), each page
 * drawn uniformly at random from the working set (xorshift32): the distinct pages dirtied in a
 * window of t seconds are then WS * (1 - exp(-pps * t / WS_pages)), the shape the forecast
 * assumes.  Every write stores a new value (the running write count), so a page's CONTENT
 * changes each time: QEMU's page-sampling dirty-rate mode compares page hashes.
 * After a long stall (host busy, vCPU throttled) it catches up at most 200 ticks' worth.
 * Interrupt handlers never `iret` (see isr_timer).
 * COM1 gets "dirty-guest ws=.. pps=.. base=.." at boot (the values in force, after clamping) and
 * "ready" once the working set has been written (touching 256 MiB for the first time takes seconds).
 *
 * Build (binutils only): as --32 -o dirty.o dirty.S && ld -m elf_i386 -N -Ttext=0x100000
 *   -e _start -o dirty.elf dirty.o   (tests/lab/dirty_guest.py does this into the lab state dir)
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003          /* page-align modules, give memory info */
        .set COM1, 0x3f8
        .set CATCHUP_MAX, 200              /* ticks */

        .text
        .code32
        .align 4
mb_header:
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .globl _start
_start:
        cli
        mov     $stack_top, %esp
        mov     %ebx, mbi
        cmp     $0x2BADB002, %eax
        jne     halt_forever

        lgdt    gdt_desc
        ljmp    $0x08, $reload_segments
reload_segments:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %ax, %fs
        mov     %ax, %gs

        call    parse_cmdline
        call    clamp_working_set
        call    report
        call    setup_idt
        call    setup_pic_pit

        call    prefill
        mov     $msg_ready, %esi               /* the working set is written: dirtying starts */
        call    puts

main_loop:
        sti                                /* the shadow of sti covers hlt: a tick wakes hlt */
        hlt
        jmp     main_loop                  /* woken without an interrupt (none expected) */

/* tick_work: runs with interrupts off, entered from isr_timer on a clean stack */
tick_work:
        cmpl    $0, pps
        je      main_loop
        mov     ticks, %eax
        mov     %eax, %ecx
        sub     seen, %ecx
        mov     %eax, seen
        cmp     $CATCHUP_MAX, %ecx
        jbe     1f
        mov     $CATCHUP_MAX, %ecx
1:      mov     %ecx, %eax
        mull    pps                        /* edx:eax = ticks * pps */
        add     acc, %eax
        adc     $0, %edx
        mov     $1000, %ecx
        divl    %ecx                       /* eax = pages due, edx = carried fraction */
        mov     %edx, acc
        call    write_pages
        jmp     main_loop

/* write_pages: write %eax pages, each chosen uniformly at random in the working set (xorshift32,
   index = rng * ws_pages >> 32), each write storing a new value (the running write count) */
write_pages:
        push    %ebx
        push    %esi
        push    %edi
        mov     %eax, %edi
1:      test    %edi, %edi
        jz      2f
        mov     rng, %eax
        mov     %eax, %ebx
        shl     $13, %ebx
        xor     %ebx, %eax
        mov     %eax, %ebx
        shr     $17, %ebx
        xor     %ebx, %eax
        mov     %eax, %ebx
        shl     $5, %ebx
        xor     %ebx, %eax
        mov     %eax, rng
        mull    ws_pages                   /* edx = page index in [0, ws_pages) */
        shl     $12, %edx
        add     ws_base, %edx
        incl    writes
        mov     writes, %eax
        mov     %eax, (%edx)
        dec     %edi
        jmp     1b
2:      pop     %edi
        pop     %esi
        pop     %ebx
        ret

/* prefill: touch every working-set page once, in order, so it is non-zero RAM from the start */
prefill:
        xor     %ecx, %ecx
        mov     ws_base, %edx
1:      cmp     ws_pages, %ecx
        jae     2f
        movl    $1, (%edx)
        add     $4096, %edx
        inc     %ecx
        jmp     1b
2:      ret

/* parse_cmdline: ws=, pps=, base= from the multiboot command line (flags bit 2, offset 16) */
parse_cmdline:
        mov     mbi, %ebx
        testl   $4, (%ebx)
        jz      9f
        mov     16(%ebx), %esi
        mov     $key_ws, %edi
        call    find_param
        jc      1f
        mov     %eax, ws_mib
1:      mov     $key_pps, %edi
        call    find_param
        jc      2f
        mov     %eax, pps
2:      mov     $key_base, %edi
        call    find_param
        jc      9f
        mov     %eax, base_mib
9:      ret

/* find_param: %esi = command line, %edi = "key=" (NUL-terminated).  The key must start the line
   or follow a space.  Returns CF clear and the decimal value in %eax, or CF set if absent. */
find_param:
        push    %esi
        push    %ebx
        mov     %esi, %ebx                 /* ebx walks the line */
1:      cmpb    $0, (%ebx)
        je      8f
        cmp     %esi, %ebx                 /* at the start of the line? */
        je      2f
        cmpb    $' ', -1(%ebx)
        jne     6f
2:      push    %ebx
        push    %edi
3:      mov     (%edi), %al
        test    %al, %al
        jz      4f                         /* whole key matched */
        cmp     (%ebx), %al
        jne     5f
        inc     %ebx
        inc     %edi
        jmp     3b
4:      pop     %edi
        add     $4, %esp                   /* drop the saved match start */
        xor     %eax, %eax
41:     movzbl  (%ebx), %edx
        sub     $'0', %edx
        cmp     $9, %edx
        ja      42f
        imul    $10, %eax, %eax
        add     %edx, %eax
        inc     %ebx
        jmp     41b
42:     pop     %ebx
        pop     %esi
        clc
        ret
5:      pop     %edi
        pop     %ebx
6:      inc     %ebx
        jmp     1b
8:      pop     %ebx
        pop     %esi
        stc
        ret

/* clamp_working_set: base + ws must fit in the RAM the loader reports (mem_upper, KiB above 1 MiB) */
clamp_working_set:
        mov     base_mib, %eax
        shl     $20, %eax
        mov     %eax, ws_base
        mov     mbi, %ebx
        testl   $1, (%ebx)
        jz      1f
        mov     8(%ebx), %ecx              /* KiB above 1 MiB */
        shr     $10, %ecx
        inc     %ecx                       /* MiB of RAM below the top */
        sub     base_mib, %ecx
        jbe     2f
        cmp     ws_mib, %ecx
        jae     1f
        mov     %ecx, ws_mib
1:      mov     ws_mib, %eax
        shl     $8, %eax                   /* 256 pages per MiB */
        mov     %eax, ws_pages
        ret
2:      movl    $0, ws_mib
        movl    $0, ws_pages
        movl    $0, pps
        ret

setup_idt:
        mov     $idt, %edi
        xor     %ecx, %ecx
1:      mov     $isr_ignore, %eax
        cmp     $0x20, %ecx
        jne     2f
        mov     $isr_timer, %eax
        jmp     3f
2:      cmp     $0x21, %ecx                /* other PIC lines: EOI and go on */
        jb      3f
        cmp     $0x2f, %ecx
        ja      3f
        mov     $isr_irq, %eax
3:      mov     %ax, (%edi)
        movw    $0x08, 2(%edi)
        movw    $0x8e00, 4(%edi)           /* present, DPL 0, 32-bit interrupt gate */
        shr     $16, %eax
        mov     %ax, 6(%edi)
        add     $8, %edi
        inc     %ecx
        cmp     $256, %ecx
        jb      1b
        lidt    idt_desc
        ret

setup_pic_pit:
        mov     $0x11, %al                 /* ICW1: init, ICW4 follows */
        out     %al, $0x20
        out     %al, $0xa0
        mov     $0x20, %al                 /* ICW2: master at 0x20, slave at 0x28 */
        out     %al, $0x21
        mov     $0x28, %al
        out     %al, $0xa1
        mov     $0x04, %al                 /* ICW3 */
        out     %al, $0x21
        mov     $0x02, %al
        out     %al, $0xa1
        mov     $0x01, %al                 /* ICW4: 8086 mode */
        out     %al, $0x21
        out     %al, $0xa1
        mov     $0xfe, %al                 /* only IRQ0 (the PIT) */
        out     %al, $0x21
        mov     $0xff, %al
        out     %al, $0xa1
        mov     $0x34, %al                 /* PIT ch0, lo/hi byte, mode 2 */
        out     %al, $0x43
        mov     $1193, %ax                 /* 1193182 Hz / 1193 = 1000.15 Hz */
        out     %al, $0x40
        mov     %ah, %al
        out     %al, $0x40
        ret

/* Interrupts arrive only while main_loop sits in hlt (IF is clear everywhere else), so the
   handlers never return with iret: they drop the frame (EIP, CS, EFLAGS) and jump back.  Under
   some KVM implementations (kvm_pvm here) a protected-mode iret is emulated and KVM's emulator
   only handles real-mode iret: the guest dies with "emulation failure". */
isr_timer:
        add     $12, %esp
        incl    ticks
        mov     $0x20, %al
        out     %al, $0x20
        jmp     tick_work

isr_irq:
        add     $12, %esp
        mov     $0x20, %al
        out     %al, $0xa0
        out     %al, $0x20
        jmp     main_loop

isr_ignore:                                /* an exception: nothing to return to */
        mov     $'!', %al
        call    putc
        jmp     halt_forever

/* report: "dirty-guest ws=N pps=N base=N\n" on COM1 */
report:
        mov     $msg_head, %esi
        call    puts
        mov     ws_mib, %eax
        call    putdec
        mov     $msg_pps, %esi
        call    puts
        mov     pps, %eax
        call    putdec
        mov     $msg_base, %esi
        call    puts
        mov     base_mib, %eax
        call    putdec
        mov     $msg_nl, %esi
        call    puts
        ret

puts:
1:      lodsb
        test    %al, %al
        jz      2f
        call    putc
        jmp     1b
2:      ret

putc:
        push    %edx
        mov     $COM1, %dx
        out     %al, %dx
        pop     %edx
        ret

putdec:                                    /* %eax unsigned */
        push    %ebx
        mov     $10, %ebx
        xor     %ecx, %ecx
1:      xor     %edx, %edx
        div     %ebx
        push    %edx
        inc     %ecx
        test    %eax, %eax
        jnz     1b
2:      pop     %eax
        add     $'0', %al
        call    putc
        loop    2b
        pop     %ebx
        ret

halt_forever:
        cli
1:      hlt
        jmp     1b

        .data
        .align 8
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff         /* 0x08: code, flat 4 GiB */
        .quad   0x00cf92000000ffff         /* 0x10: data, flat 4 GiB */
gdt_desc:
        .word   gdt_desc - gdt - 1
        .long   gdt
        .align 4
idt_desc:
        .word   256 * 8 - 1
        .long   idt
ws_mib:   .long 64
rng:      .long 2463534242          /* xorshift32 seed (any non-zero) */
pps:      .long 0
base_mib: .long 16
key_ws:   .asciz "ws="
key_pps:  .asciz "pps="
key_base: .asciz "base="
msg_head: .asciz "dirty-guest ws="
msg_pps:  .asciz " pps="
msg_base: .asciz " base="
msg_nl:   .asciz "\n"
msg_ready: .asciz "ready\n"

        .bss
        .align 16
idt:      .skip 256 * 8
mbi:      .long 0
ws_base:  .long 0
ws_pages: .long 0
writes:   .long 0
ticks:    .long 0
seen:     .long 0
acc:      .long 0
stack:    .skip 8192
stack_top:
