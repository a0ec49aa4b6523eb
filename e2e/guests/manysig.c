/* manysig: 10,000 real-time signals queued at once from four threads are
 * all delivered, none lost (sigqueue retries when the queue is full, as
 * RLIMIT_SIGPENDING allows). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
static atomic_int got;
static void h(int s){(void)s; atomic_fetch_add(&got,1);}
static void *sender(void *a){ (void)a; union sigval v={0}; for(int i=0;i<2500;i++){ while(sigqueue(getpid(), SIGRTMIN, v)!=0) usleep(100);} return NULL;}
int main(void){
  struct sigaction sa={0}; sa.sa_handler=h; sa.sa_flags=SA_RESTART; sigaction(SIGRTMIN,&sa,NULL);
  pthread_t t[4]; for(int i=0;i<4;i++) pthread_create(&t[i],NULL,sender,NULL);
  for(int i=0;i<4;i++) pthread_join(t[i],NULL);
  struct timespec d={0,1000000}; for(int i=0;i<5000 && atomic_load(&got)<10000;i++) nanosleep(&d,NULL);
  printf("delivered %d of 10000\n", atomic_load(&got)); return 0; }
