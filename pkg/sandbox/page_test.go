package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
)

// chromium finds Debian's chromium (make test installs it for this test)
// or skips — fails under CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testdeps.Missing(t, "chromium not installed (apt-get install -y chromium, or make test)")
	return ""
}

// runChromium runs headless Chromium with the flags that keep it offline
// and quiet, plus extra.
func runChromium(t *testing.T, bin string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--hide-scrollbars", "--mute-audio", "--user-data-dir=" + t.TempDir(), "--window-size=900,700"}, extra...)
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", extra, err)
	}
	return out
}

// playBlob finds the voice-note play button in a screenshot: the largest
// cluster of its green (#00a884) pixels that has the white play triangle
// inside. It returns the cluster's bounds and pixel count.
func playBlob(img image.Image) (image.Rectangle, int, bool) {
	b := img.Bounds()
	isGreen := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return near(r>>8, 0x00) && near(g>>8, 0xa8) && near(bl>>8, 0x84)
	}
	isWhite := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return r>>8 > 235 && g>>8 > 235 && bl>>8 > 235
	}
	seen := map[image.Point]bool{}
	var best image.Rectangle
	bestN := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			p := image.Pt(x, y)
			if seen[p] || !isGreen(x, y) {
				continue
			}
			// Flood-fill one cluster.
			stack := []image.Point{p}
			seen[p] = true
			r := image.Rectangle{Min: p, Max: p.Add(image.Pt(1, 1))}
			n := 0
			for len(stack) > 0 {
				q := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				n++
				r = r.Union(image.Rectangle{Min: q, Max: q.Add(image.Pt(1, 1))})
				for _, d := range []image.Point{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
					o := q.Add(d)
					if o.In(b) && !seen[o] && isGreen(o.X, o.Y) {
						seen[o] = true
						stack = append(stack, o)
					}
				}
			}
			if n > bestN {
				best, bestN = r, n
			}
		}
	}
	if bestN == 0 {
		return best, 0, false
	}
	whites := 0
	c := image.Pt((best.Min.X+best.Max.X)/2, (best.Min.Y+best.Max.Y)/2)
	for y := c.Y - 6; y <= c.Y+6; y++ {
		for x := c.X - 6; x <= c.X+6; x++ {
			if isWhite(x, y) {
				whites++
			}
		}
	}
	return best, bestN, whites >= 10
}

func near(a uint32, b uint32) bool {
	d := int(a) - int(b)
	return d >= -12 && d <= 12
}

func screenshot(t *testing.T, bin, url string) image.Image {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shot.png")
	runChromium(t, bin, "--screenshot="+p, url)
	f, err := os.Open(p)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPageInChromium(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	bin := chromium(t)
	s := start(t, Config{})

	// First only basic audio: a download icon, no play button.
	basic := sendLink(t, s, s.MetaURL()+"/v23.0/1065403522/messages", "15550000001", "song.ogg", "audio/ogg", voice, false)
	if basic.status != 200 {
		t.Fatalf("%d %s", basic.status, basic.body)
	}
	basicID := basic.json["messages"].([]any)[0].(map[string]any)["id"].(string)
	waitStatuses(t, s, basicID, 3)
	if _, n, ok := playBlob(screenshot(t, bin, s.URL()+"/")); ok && n > 600 {
		t.Fatalf("a play button (%d px) renders with no voice note on the page", n)
	}

	voiceAns := sendLink(t, s, s.MetaURL()+"/v23.0/1065403522/messages", "15550000001", "voice.ogg", "audio/ogg", voice, true)
	voiceID := voiceAns.json["messages"].([]any)[0].(map[string]any)["id"].(string)
	waitStatuses(t, s, voiceID, 3)
	// A person clicks play: the mouse press and release go through
	// Chromium's input pipeline (DevTools Input.dispatchMouseEvent), and
	// the page's own handler asks the sandbox to send "played".
	time.Sleep(100 * time.Millisecond)
	if m, _ := s.Message(voiceID); statusNames(m.Statuses) != "sent,delivered,read" {
		t.Fatalf("played before any click: %s", statusNames(m.Statuses))
	}
	clickPlay(t, bin, s.URL()+"/", "play-"+voiceID)
	if m := waitStatuses(t, s, voiceID, 4); statusNames(m.Statuses) != "sent,delivered,read,played" {
		t.Fatalf("after the click: %s", statusNames(m.Statuses))
	}
	dom := string(runChromium(t, bin, "--dump-dom", s.URL()+"/"))
	playBtn := regexp.MustCompile(`<button[^>]*class="play"[^>]*id="play-` + regexp.QuoteMeta(voiceID) + `"`)
	if !playBtn.MatchString(dom) {
		t.Fatalf("the rendered DOM has no play button for %s:\n%s", voiceID, dom)
	}
	if !strings.Contains(dom, `src="/_sandbox/media/`+voiceID+`"`) || !strings.Contains(dom, "0:02") {
		t.Fatal("the voice note lacks its audio source or its duration")
	}
	if !regexp.MustCompile(`id="msg-`+regexp.QuoteMeta(basicID)+`"[^>]*data-kind="file"`).MatchString(dom) || !strings.Contains(dom, `class="dl"`) {
		t.Fatal("basic audio is not shown as a file with a download icon")
	}
	if !strings.Contains(dom, "played") {
		t.Fatal("the status trail is missing")
	}
	box, n, ok := playBlob(screenshot(t, bin, s.URL()+"/"))
	if !ok || n < 600 || box.Dx() < 30 || box.Dx() > 48 || box.Dy() < 30 || box.Dy() > 48 {
		t.Fatalf("no play button in the screenshot: cluster %v of %d px, triangle %v", box, n, ok)
	}
}

func TestPageAndMessagesJSON(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{})
	empty := do(t, http.MethodGet, s.URL()+"/", nil, nil)
	if empty.status != 200 || !strings.Contains(string(empty.body), "No messages yet") {
		t.Fatalf("empty page: %d", empty.status)
	}
	if a := do(t, http.MethodGet, s.URL()+"/_sandbox/messages", nil, nil); a.status != 200 || strings.TrimSpace(string(a.body)) != "[]" {
		t.Fatalf("empty messages: %d %s", a.status, a.body)
	}
	a := sendLink(t, s, s.MetaURL()+"/v23.0/1/messages", "15550000001", "v.ogg", "audio/ogg", voice, true)
	id := a.json["messages"].([]any)[0].(map[string]any)["id"].(string)
	waitStatuses(t, s, id, 3)
	if got := do(t, http.MethodPost, s.URL()+"/_sandbox/play/"+id, nil, nil); got.status != 200 {
		t.Fatalf("play: %d %s", got.status, got.body)
	}
	waitStatuses(t, s, id, 4)
	if m, _ := s.Message(id); m.Waveform != nil {
		t.Fatal("waveform computed before any page view")
	}
	page := string(do(t, http.MethodGet, s.URL()+"/", nil, nil).body)
	if !strings.Contains(page, `id="play-`+id+`"`) || strings.Count(page, `<i style="height:`) != WaveformBars {
		t.Fatal("page has no play button or no waveform")
	}
	got := do(t, http.MethodGet, s.URL()+"/_sandbox/messages", nil, nil)
	var msgs []Message
	if err := json.Unmarshal(got.body, &msgs); err != nil || len(msgs) != 1 {
		t.Fatalf("%v %s", err, got.body)
	}
	if m := msgs[0]; m.ID != id || m.Provider != Meta || statusNames(m.Statuses) != "sent,delivered,read,played" || len(m.Waveform) != WaveformBars || m.WaveFrom == "" {
		t.Fatalf("message %+v", m)
	}
}

func TestWaveform(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	dir := t.TempDir()
	p := filepath.Join(dir, "v.ogg")
	if err := os.WriteFile(p, voice, 0o644); err != nil {
		t.Fatal(err)
	}
	b := bytePeaks(p, WaveformBars)
	if len(b) != WaveformBars || !equalFloats(b, bytePeaks(p, WaveformBars)) {
		t.Fatalf("byte placeholder not deterministic: %v", b)
	}
	testdeps.Tool(t, "ffmpeg", "make deps")
	// A tone that is silent for its first half: the decoded envelope must
	// show the silence; the byte placeholder could not.
	half := filepath.Join(dir, "half.ogg")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=f=300:d=2,volume='if(lt(t,1),0,1)':eval=frame", "-ac", "1", "-c:a", "libopus", half)
	if out, err := cmd.CombinedOutput(); err != nil {
		testdeps.Missing(t, "ffmpeg cannot make the tone (ffmpeg with libopus: make deps): %v %s", err, out)
	}
	w := ffmpegPeaks(context.Background(), half, WaveformBars)
	if len(w) != WaveformBars {
		t.Fatalf("peaks %v", w)
	}
	for i := 2; i < WaveformBars/2-2; i++ {
		if w[i] > 0.05 {
			t.Fatalf("bar %d of the silent half is %v: %v", i, w[i], w)
		}
	}
	for i := WaveformBars/2 + 2; i < WaveformBars-2; i++ {
		if w[i] < 0.5 {
			t.Fatalf("bar %d of the loud half is %v: %v", i, w[i], w)
		}
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// clickPlay opens url in headless Chromium, driven over the DevTools
// protocol on a pipe (--remote-debugging-pipe: commands on fd 3, answers
// on fd 4, each a JSON message ended by NUL), and clicks the element with
// id buttonID with the mouse, as a person would.
func clickPlay(t *testing.T, bin, url, buttonID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	toChrome, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromChrome, cmdR := (*os.File)(nil), (*os.File)(nil)
	if fromChrome, cmdR, err = os.Pipe(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--mute-audio", "--autoplay-policy=no-user-gesture-required", "--user-data-dir="+t.TempDir(),
		"--window-size=900,700", "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, cmdR} // fd 3: Chromium reads; fd 4: Chromium writes
	// Chromium's helper processes (renderer, network and storage services)
	// outlive a killed browser process for a while and go on writing into
	// its profile, a t.TempDir whose removal then fails ("directory not
	// empty"). So the browser is asked to quit (its DevTools pipe closed),
	// which ends its helpers, and the whole process group is killed after
	// that, or after 10 s.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChrome.Close()
	cmdR.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		cmdW.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		fromChrome.Close()
	}()
	type message struct {
		ID        int             `json:"id,omitempty"`
		Method    string          `json:"method,omitempty"`
		SessionID string          `json:"sessionId,omitempty"`
		Params    any             `json:"params,omitempty"`
		Result    json.RawMessage `json:"result,omitempty"`
		Error     json.RawMessage `json:"error,omitempty"`
	}
	msgs := make(chan message, 64)
	go func() {
		defer close(msgs)
		r := bufio.NewReader(fromChrome)
		for {
			b, err := r.ReadBytes(0)
			if err != nil {
				return
			}
			var m message
			if json.Unmarshal(b[:len(b)-1], &m) == nil {
				msgs <- m
			}
		}
	}()
	next := 0
	call := func(session, method string, params any) json.RawMessage {
		t.Helper()
		next++
		b, _ := json.Marshal(message{ID: next, Method: method, SessionID: session, Params: params})
		if _, err := cmdW.Write(append(b, 0)); err != nil {
			t.Fatalf("devtools %s: %v", method, err)
		}
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("devtools %s: chromium closed the pipe", method)
				}
				if m.ID == next {
					if len(m.Error) > 0 {
						t.Fatalf("devtools %s: %s", method, m.Error)
					}
					return m.Result
				}
			case <-ctx.Done():
				t.Fatalf("devtools %s: timed out", method)
			}
		}
	}
	var target struct{ TargetID string }
	_ = json.Unmarshal(call("", "Target.createTarget", map[string]any{"url": "about:blank"}), &target)
	var attached struct{ SessionID string }
	_ = json.Unmarshal(call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}), &attached)
	sess := attached.SessionID
	call(sess, "Page.navigate", map[string]any{"url": url})
	var box struct {
		X, Y float64
		OK   bool
	}
	eval := func(expr string, v any) {
		var res struct {
			Result struct{ Value json.RawMessage }
		}
		_ = json.Unmarshal(call(sess, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}), &res)
		_ = json.Unmarshal(res.Result.Value, v)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !box.OK {
		if time.Now().After(deadline) {
			t.Fatalf("no %s on the page", buttonID)
		}
		time.Sleep(50 * time.Millisecond)
		eval(`(function(){var b=document.getElementById(`+strconv.Quote(buttonID)+`); if(!b||document.readyState!=="complete") return {OK:false};
			b.scrollIntoView(); var r=b.getBoundingClientRect(); return {X:r.x+r.width/2, Y:r.y+r.height/2, OK:true};})()`, &box)
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		call(sess, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": box.X, "y": box.Y, "button": "left", "clickCount": 1})
	}
	// The page reports whether the sandbox took the play.
	var played string
	for deadline := time.Now().Add(10 * time.Second); played == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the page never heard back from the sandbox after the click")
		}
		eval(`(document.getElementById(`+strconv.Quote(buttonID)+`)||{dataset:{}}).dataset.played||""`, &played)
	}
	if played != "yes" {
		t.Fatalf("the sandbox refused the play: %s", played)
	}
}
