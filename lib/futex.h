/* SPDX-License-Identifier: MIT */
/* futex.c — waiting on a 32-bit word shared between processes. */
#ifndef MPCONN_FUTEX_H
#define MPCONN_FUTEX_H

#include <stdint.h>

/* Sleep while *@word == @expected, until woken or @deadline (as
 * mpconn__deadline()).  0 when woken, when the word had changed or on a
 * signal (look again in every case), MPCONN_ETIMEDOUT, or -errno. */
int mpconn__futex_wait(uint32_t *word, uint32_t expected, int64_t deadline);
/* Wake at most @n processes and threads sleeping on @word. */
void mpconn__futex_wake(uint32_t *word, int n);
/* Wake every process and thread sleeping on @word. */
void mpconn__futex_wake_all(uint32_t *word);

/* One step of a busy wait, before deciding to sleep: tells the processor
 * this is a spin loop (x86 pause, Arm yield). */
static inline void mpconn__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

#endif
