/* sigfd: a signalfd reads the signals of its mask that the thread blocks:
 * one pending before it was made, and a child's SIGCHLD (util-linux
 * script waits for its shell this way). Deterministic lines only. */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void){
  setvbuf(stdout,NULL,_IOLBF,0);
  sigset_t m; sigemptyset(&m); sigaddset(&m,SIGCHLD); sigaddset(&m,SIGUSR1);
  sigprocmask(SIG_BLOCK,&m,NULL);
  raise(SIGUSR1);
  int fd=signalfd(-1,&m,SFD_CLOEXEC);
  struct signalfd_siginfo si;
  ssize_t n=read(fd,&si,sizeof si);
  printf("pending before: n=%zd signo=%u code=%d self=%s\n", n, si.ssi_signo, si.ssi_code, si.ssi_pid==(unsigned)getpid()?"yes":"no");
  pid_t c=fork(); if(!c) _exit(7);
  struct pollfd p={fd,POLLIN,0};
  int r=poll(&p,1,5000);
  n=read(fd,&si,sizeof si);
  printf("child exit: poll=%d n=%zd signo=%u child=%s status=%d\n", r, n, si.ssi_signo, si.ssi_pid==(unsigned)c?"yes":"no", si.ssi_status);
  waitpid(c,NULL,0);
  return 0;
}
