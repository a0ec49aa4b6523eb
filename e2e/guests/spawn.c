/* spawn - posix_spawn (found and missing program), system() and popen(). */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <errno.h>
extern char **environ;
int main(){
  pid_t p; char *a[] = {"echo", "spawned", 0};
  int r = posix_spawnp(&p, "echo", 0, 0, a, environ); int st; waitpid(p,&st,0); printf("spawn r=%d exit=%d\n", r, WEXITSTATUS(st));
  char *b[] = {"/nonexistent", 0};
  r = posix_spawn(&p, "/nonexistent", 0, 0, b, environ); printf("spawn missing r=%d (ENOENT=%d)\n", r, ENOENT); if (r==0) waitpid(p,&st,0);
  r = system("echo from system; exit 4"); printf("system=%d\n", WEXITSTATUS(r));
  FILE *f = popen("echo popen-line", "r"); char buf[64]; fgets(buf, sizeof buf, f); printf("popen read: %s", buf); printf("pclose=%d\n", pclose(f));
  return 0;
}
