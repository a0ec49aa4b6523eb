package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/net/html"

	"github.com/vsysbed/vsysbed/coverage"
)

// chromiumBin is Debian's chromium; the HTML report is checked in a real
// browser because only a browser tells whether the page, its inline SVG
// and its script render.
const chromiumBin = "/usr/bin/chromium"

// chromiumFlags keep headless chromium off the network and off anything
// outside its throw-away profile: the page must render from the file alone.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

// Colours of the chart's bar kinds, as the page's CSS sets them.
var (
	bypassRGB = [3]uint8{0x1a, 0x98, 0x50}
	trapRGB   = [3]uint8{0xd7, 0x30, 0x27}
)

var _ = Describe("HTML report", func() {
	It("renders a real run's report in headless chromium", func() {
		if !isExecutableFile(chromiumBin) {
			Skip(chromiumBin + " is missing: install Debian's chromium package (apt-get install chromium) to check the HTML report in a browser")
		}
		dir := GinkgoT().TempDir()
		jsonPath := filepath.Join(dir, "report.json")
		probe := filepath.Join(guestDir, "vsyscall_probe-glibc")
		res := runVsysbed(nil, reportFlags("seccomp", jsonPath), probe)
		Expect(res.Status).To(Equal(0), "probe under vsysbed:\n%s", res)

		r, err := coverage.Load(jsonPath)
		Expect(err).NotTo(HaveOccurred())
		var lib bytes.Buffer
		// What `report show` adds: the source files and kernelsim's
		// refusals (the only one this guest meets is glibc's rseq).
		Expect(r.WriteHTMLWith(&lib, coverage.HTMLOptions{ReadSource: os.ReadFile,
			Refusal: func(nr int) (string, string, bool) { return "ENOSYS", "?", nr == 334 }})).To(Succeed())

		htmlPath := filepath.Join(dir, "report.html")
		if reportShowHasHTML() {
			By("writing the page with vsysbed report show --format html")
			res := run(nil, vsysbedBin, "report", "show", "--format", "html", "-o", htmlPath, jsonPath)
			Expect(res.Status).To(Equal(0), "vsysbed report show:\n%s", res)
			page, err := os.ReadFile(htmlPath)
			Expect(err).NotTo(HaveOccurred())
			// The same page but for kernelsim's own words for rseq.
			why := regexp.MustCompile(`(<td class="mono bad">-1 ENOSYS</td><td>)[^<]*(</td>)`)
			Expect(string(why.ReplaceAll(page, []byte("${1}?${2}")))).To(Equal(lib.String()),
				"the CLI and coverage.WriteHTMLWith must write the same page")
			Expect(string(page)).To(MatchRegexp(`<td class="mono">rseq</td><td class="num">334</td><td class="num">1</td><td class="mono bad">-1 ENOSYS</td><td>[^<?]+</td>`),
				"the refused rseq with kernelsim's reason")
		} else {
			By("writing the page with coverage.WriteHTML (vsysbed report show has no html format yet)")
			Expect(os.WriteFile(htmlPath, lib.Bytes(), 0o644)).To(Succeed())
		}
		Expect(regexp.MustCompile(`(?i)https?://|\bsrc\s*=|\bhref\s*=|url\(|<link`).FindAllString(lib.String(), -1)).
			To(BeEmpty(), "the page must not reference anything outside itself")

		url := "file://" + htmlPath
		profile := func() string { return "--user-data-dir=" + GinkgoT().TempDir() }

		By("taking a screenshot")
		shot := filepath.Join(dir, "report.png")
		res = run(nil, append(append([]string{chromiumBin}, chromiumFlags...),
			profile(), "--screenshot="+shot, "--window-size=1280,1600", url)...)
		Expect(res.Status).To(Equal(0), "chromium --screenshot:\n%s", res)
		img := decodePNG(shot)
		b := img.Bounds()
		Expect(b.Dx()).To(Equal(1280))
		Expect(b.Dy()).To(Equal(1600))
		colours := coloursOf(img)
		Expect(len(colours)).To(BeNumerically(">", 2), "the screenshot is (nearly) one colour: the page did not render")
		Expect(hasColour(colours, bypassRGB)).To(BeTrue(), "no bypass-green bar in the screenshot")
		Expect(hasColour(colours, trapRGB)).To(BeTrue(), "no trap-red bar in the screenshot")

		By("dumping the DOM after a click on the site table's syscall header")
		// A copy of the page that clicks the header once loaded, as a
		// reader would: the dumped DOM shows whether the sorter works.
		clicked := filepath.Join(dir, "clicked.html")
		Expect(os.WriteFile(clicked, bytes.Replace(lib.Bytes(), []byte("</body>"),
			[]byte(`<script>document.querySelectorAll("#site-table th")[1].click();</script></body>`), 1), 0o644)).To(Succeed())
		res = run(nil, append(append([]string{chromiumBin}, chromiumFlags...), profile(), "--dump-dom", "file://"+clicked)...)
		Expect(res.Status).To(Equal(0), "chromium --dump-dom:\n%s", res)
		doc, err := html.Parse(strings.NewReader(res.Stdout))
		Expect(err).NotTo(HaveOccurred())
		text := domText(doc)
		Expect(text).To(ContainSubstring(probe), "the command")
		for _, want := range []string{"write", "getpid", "bypass", "trap", "exit code 0", "complete"} {
			Expect(text).To(ContainSubstring(want))
		}
		// The sorting script makes every sortable header focusable; the
		// file itself has no tabindex, so this proves the script ran.
		Expect(res.Stdout).To(ContainSubstring(`tabindex="0"`), "the inline script did not run")
		syscalls := siteColumn(doc, 1)
		Expect(syscalls).To(HaveLen(len(r.Sites)), "site rows in the rendered DOM")
		Expect(sort.StringsAreSorted(syscalls)).To(BeTrue(), "sites not sorted by syscall after the click: %q", syscalls)
		Expect(syscalls).To(ContainElements("write", "getpid"))

		By("typing getpid into the filter box")
		filtered := filepath.Join(dir, "filtered.html")
		Expect(os.WriteFile(filtered, bytes.Replace(lib.Bytes(), []byte("</body>"),
			[]byte(`<script>var f = document.getElementById("filter"); f.value = "getpid"; f.dispatchEvent(new Event("input"));</script></body>`), 1), 0o644)).To(Succeed())
		res = run(nil, append(append([]string{chromiumBin}, chromiumFlags...), profile(), "--dump-dom", "file://"+filtered)...)
		Expect(res.Status).To(Equal(0), "chromium --dump-dom:\n%s", res)
		doc, err = html.Parse(strings.NewReader(res.Stdout))
		Expect(err).NotTo(HaveOccurred())
		var getpids int
		for _, s := range r.Sites {
			if s.Syscall == "getpid" {
				getpids++
			}
		}
		Expect(getpids).To(BeNumerically(">", 0))
		Expect(res.Stdout).To(ContainSubstring(fmt.Sprintf(`%d of %d sites`, getpids, len(r.Sites))), "the filter's count")
		Expect(visibleSiteSyscalls(doc)).To(HaveEach("getpid"), "site rows left visible by the filter")
		Expect(visibleSiteSyscalls(doc)).To(HaveLen(2*getpids), "in the grouped view and the table")

		By("showing the trapping source line of the guest's raw syscall")
		Expect(lib.String()).To(ContainSubstring(`id="source"`))
		Expect(lib.String()).To(MatchRegexp(`<tr class="hit" title="[0-9]+ trapped: [a-z, ]+"><td class="ln">[0-9]+</td><td class="calls">[0-9]+×</td><td class="code">\s*__asm__ volatile\(&#34;syscall&#34;`))

		if os.Getenv("VSYSBED_UPDATE_SCREENSHOT") != "" {
			By("keeping the screenshot of report show's page, filtered, as docs/img/report.png")
			page, err := os.ReadFile(htmlPath)
			Expect(err).NotTo(HaveOccurred())
			shown := filepath.Join(dir, "shown.html")
			Expect(os.WriteFile(shown, bytes.Replace(page, []byte("</body>"),
				[]byte(`<script>var f = document.getElementById("filter"); f.value = "getpid"; f.dispatchEvent(new Event("input"));</script></body>`), 1), 0o644)).To(Succeed())
			res = run(nil, append(append([]string{chromiumBin}, chromiumFlags...),
				profile(), "--screenshot="+filepath.Join("..", "docs", "img", "report.png"), "--window-size=1280,2300", "file://"+shown)...)
			Expect(res.Status).To(Equal(0), "chromium --screenshot:\n%s", res)
		}
	})
})

// visibleSiteSyscalls is the syscall cell of every site row (grouped view
// and table) that the filter left visible.
func visibleSiteSyscalls(doc *html.Node) []string {
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "tr" && attr(n, "class") == "site" {
			var cells []*html.Node
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.Data == "td" {
					cells = append(cells, c)
				}
			}
			if len(cells) > 1 {
				out = append(out, strings.TrimSpace(domText(cells[1])))
			}
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// reportShowHasHTML tells whether this vsysbed can write HTML itself.
func reportShowHasHTML() bool {
	out, err := exec.Command(vsysbedBin, "report", "show", "--help").CombinedOutput()
	return err == nil && bytes.Contains(out, []byte("html"))
}

func decodePNG(path string) image.Image {
	GinkgoHelper()
	f, err := os.Open(path)
	Expect(err).NotTo(HaveOccurred(), "chromium wrote no screenshot")
	defer f.Close()
	img, err := png.Decode(f)
	Expect(err).NotTo(HaveOccurred(), "screenshot %s is not a PNG", path)
	return img
}

// coloursOf is the set of distinct 8-bit RGB colours of img.
func coloursOf(img image.Image) map[[3]uint8]bool {
	set := map[[3]uint8]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			set[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}] = true
		}
	}
	return set
}

// hasColour allows a few steps per channel: colour management may shift
// a solid fill slightly.
func hasColour(set map[[3]uint8]bool, want [3]uint8) bool {
	near := func(a, b uint8) bool { d := int(a) - int(b); return d > -4 && d < 4 }
	for c := range set {
		if near(c[0], want[0]) && near(c[1], want[1]) && near(c[2], want[2]) {
			return true
		}
	}
	return false
}

// domText is the text of a parsed page, without its style and script.
func domText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// siteColumn is the text of column i of every row of the site table, in
// the order the DOM holds them.
func siteColumn(n *html.Node, i int) []string {
	n = byID(n, "site-table") // the grouped view has site rows too
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "tr" {
			for _, a := range n.Attr {
				if a.Key == "class" && a.Val == "site" {
					col := 0
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						if c.Type == html.ElementNode && c.Data == "td" {
							if col == i {
								out = append(out, domText(c))
							}
							col++
						}
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// byID is the element with that id (nil when none).
func byID(n *html.Node, id string) *html.Node {
	if n == nil || n.Type == html.ElementNode && attr(n, "id") == id {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := byID(c, id); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
