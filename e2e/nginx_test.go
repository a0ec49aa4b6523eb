package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// nginxConf is a daemonising nginx: the master forks, the parent exits,
// the master forks its workers. Paths and the port are filled in.
const nginxConf = `daemon on;
user root;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server { listen 127.0.0.1:%[2]d; root %[1]s/html; }
}
`

var _ = Describe("nginx with daemon on", func() {
	const nginx = "/usr/sbin/nginx"

	// setup writes a configuration on a free port and returns nginx's
	// arguments and the page's address.
	setup := func() (dir string, args []string, url string) {
		GinkgoHelper()
		if _, err := os.Stat(nginx); err != nil {
			Skip("nginx is not installed (Debian's nginx-light)")
		}
		if os.Geteuid() != 0 {
			Skip("the configuration runs nginx's workers as root")
		}
		dir = GinkgoT().TempDir()
		Expect(os.Mkdir(filepath.Join(dir, "html"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "html", "index.html"), []byte("hello from nginx\n"), 0o644)).To(Succeed())
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		conf := filepath.Join(dir, "nginx.conf")
		Expect(os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, port)), 0o644)).To(Succeed())
		return dir, []string{nginx, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf},
			fmt.Sprintf("http://127.0.0.1:%d/", port)
	}
	get := func(url string) string {
		GinkgoHelper()
		var body string
		Eventually(func() error {
			resp, err := http.Get(url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			body = fmt.Sprintf("%d %s", resp.StatusCode, b)
			return err
		}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
		return body
	}
	alive := func(dir string) bool {
		out, _ := exec.Command("pgrep", "-f", dir+"/nginx.conf").Output()
		return strings.TrimSpace(string(out)) != ""
	}

	for _, mode := range trapModes {
		It("serves a page as natively, and SIGTERM to vsysbed ends the daemon's tree, with --trap "+mode, func() {
			dir, args, url := setup()
			native := run(nil, args...)
			Expect(native.Status).To(Equal(0), "native nginx:\n%s", native)
			want := get(url)
			pid, err := os.ReadFile(filepath.Join(dir, "nginx.pid"))
			Expect(err).NotTo(HaveOccurred())
			var p int
			fmt.Sscan(string(pid), &p)
			Expect(syscall.Kill(p, syscall.SIGTERM)).To(Succeed())
			Eventually(func() bool { return alive(dir) }, 10*time.Second).Should(BeFalse())

			reportPath := filepath.Join(dir, "R.json")
			cmd := exec.Command(vsysbedBin, vsysbedArgv(reportFlags(mode, reportPath), args...)[1:]...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			Expect(cmd.Start()).To(Succeed())
			DeferCleanup(func() { exec.Command("pkill", "-f", dir+"/nginx.conf").Run() })
			Expect(get(url)).To(Equal(want))
			// The first process has exited (daemon on); the supervisor
			// waits for the tree, which SIGTERM must end.
			Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
			ended := make(chan error, 1)
			go func() { ended <- cmd.Wait() }()
			Eventually(ended, 20*time.Second).Should(Receive(), "vsysbed did not end after SIGTERM")
			Expect(alive(dir)).To(BeFalse(), "nginx is still running")
			Expect(cmd.ProcessState.ExitCode()).To(Equal(native.Status), "stderr: %s", stderr.String())
			procs := loadProcesses(reportPath)
			// A worker served the page; the second may not have been
			// started yet when SIGTERM came.
			Expect(len(procs)).To(BeNumerically(">=", 3), "nginx, its master and a worker at least: %+v", procs)
		})
	}
})
