package main_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"citywatch/sim/camerasim"
	"citywatch/ward/wardtest"
)

// TestRetentionBinaryEndToEnd is issue 14's "release the occupant, advance time past retention, and find no
// personal data or clip left", through the real binary: `serve` with privacy.retention_after_release 2s and
// privacy.retention_interval 1s (time advances for real; the app-level TestRetentionEndToEnd moves a fake clock
// by 31 days instead). A room bound to the door camera (a simulated RTSP camera whose motion fault makes the
// binary write an event clip), a check-in with name and contact, a nurse's manual reading, a view of the
// record, the release; then it polls the audit trail until the retention_purge record appears and checks that
// no file under the data directory (citywatch.db, its -wal, clips) holds the name or contact, no clip of the
// room's camera is left, the ward API no longer carries them and no audit record names the case id.
func TestRetentionBinaryEndToEnd(t *testing.T) {
	e2e(t)
	sim, err := camerasim.New(camerasim.Config{Listen: "127.0.0.1:0", Cameras: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)

	cw := newServe(t, withYAML(fmt.Sprintf(`privacy:
  retention_after_release: 2s
  retention_interval: 1s
cameras:
  - id: door-101
    site: q1
    url: %s
    transport: tcp
    zones: ["door: 0,0 1,0 1,1 0,1"]
    clip_pre: 1s
    clip_post: 1s
`, sim.URL(1))))
	base, dataDir := cw.base(), cw.dataDir
	p := cw.start(t)
	defer p.stop()

	const name, contact = "Nguyen Thi Hoa", "+84 91 234 5678"
	ward := base + "/api/ward/q1"
	var room struct{ ID int64 }
	if code := send(t, "POST", ward+"/rooms", `{"name":"101","bindings":{"wearables":["w-101"],"camera":"door-101","zone":"door"}}`, &room); code != 201 {
		t.Fatalf("create room 101: %d", code)
	}
	var occ struct {
		ID     int64  `json:"id"`
		CaseID string `json:"case_id"`
	}
	if code := send(t, "POST", ward+"/checkin", fmt.Sprintf(`{"room_id":%d,"name":%q,"contact":%q}`, room.ID, name, contact), &occ); code != 201 {
		t.Fatalf("check in: %d", code)
	}
	if occ.CaseID == "" {
		t.Fatal("check-in returned no case id")
	}
	occURL := fmt.Sprintf("%s/occupancies/%d", ward, occ.ID)
	if code := send(t, "POST", occURL+"/readings", `{"value":38.6}`, nil); code != 201 {
		t.Fatalf("manual reading: %d", code)
	}
	// The view of the record: an admin sees the personal fields, and the view is audited naming the case.
	if code, body := getBody(t, occURL); code != 200 || !strings.Contains(string(body), name) || !strings.Contains(string(body), contact) {
		t.Fatalf("view of the record: %d %s", code, body)
	}

	// An event clip of the room's door camera during the stay: motion in the door zone.
	if err := sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultMotion}); err != nil {
		t.Fatal(err)
	}
	clipsURL := base + "/api/cameras/door-101/clips"
	eventually(t, 90*time.Second, func() string {
		var list struct {
			Clips []struct {
				Recording bool `json:"recording"`
			} `json:"clips"`
		}
		code, err := getJSON(base, "/api/cameras/door-101/clips", &list)
		if err != nil || code != 200 {
			return fmt.Sprintf("clips: %d %v", code, err)
		}
		if len(list.Clips) == 0 || list.Clips[0].Recording {
			return fmt.Sprintf("no finished clip of door-101 yet: %+v", list.Clips)
		}
		return ""
	})
	if err := sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultNone}); err != nil {
		t.Fatal(err)
	}
	if len(dataFiles(t, filepath.Join(dataDir, "clips"))) == 0 {
		t.Fatal("the clip API lists a clip but no file is under clips/")
	}
	// The checks below must be able to see what they look for.
	if len(dataFilesWith(t, dataDir, name, contact)) == 0 {
		t.Fatal("neither name nor contact in any file under the data directory before the release")
	}
	if code, body := getBody(t, base+"/api/audit?limit=1000"); code != 200 || !strings.Contains(string(body), occ.CaseID) {
		t.Fatalf("the audit trail does not name the case before the release: %d %s", code, body)
	}

	if code := send(t, "POST", occURL+"/status", `{"status":"released"}`, nil); code != 200 {
		t.Fatalf("release: %d", code)
	}
	// Retention runs every second and purges two seconds after the release. Its deletion record is written
	// during the sweep, before the sweep's write-ahead log checkpoint: the files are final only once that has
	// run, so the file checks below poll.
	var purges struct {
		Records []struct {
			Target string `json:"target"`
			Detail string `json:"detail"`
		} `json:"records"`
	}
	eventually(t, 60*time.Second, func() string {
		code, err := getJSON(base, "/api/audit?action=retention_purge", &purges)
		if err != nil || code != 200 {
			return fmt.Sprintf("audit: %d %v", code, err)
		}
		if len(purges.Records) == 0 {
			return "no retention_purge record yet"
		}
		return ""
	})
	if len(purges.Records) != 1 || !strings.Contains(purges.Records[0].Detail, "1 clips deleted") {
		t.Errorf("deletion records: %+v", purges.Records)
	}

	eventually(t, 30*time.Second, func() string {
		if files := dataFiles(t, filepath.Join(dataDir, "clips")); len(files) != 0 {
			return fmt.Sprintf("clip files of the room's camera left after retention: %v", files)
		}
		if found := dataFilesWith(t, dataDir, name, contact); len(found) != 0 {
			return fmt.Sprintf("personal data left in files after retention: %v", found)
		}
		return ""
	})
	code, body := getBody(t, base+"/api/audit?limit=1000")
	if code != 200 {
		t.Fatalf("audit: %d %s", code, body)
	}
	for _, s := range []string{occ.CaseID, name, contact} {
		if strings.Contains(string(body), s) {
			t.Errorf("the audit trail still names %q", s)
		}
	}
	for _, u := range []string{occURL, ward, clipsURL} {
		code, body := getBody(t, u)
		if code != 200 {
			t.Errorf("GET %s: %d %s", u, code, body)
		}
		for _, s := range []string{name, contact, "38.6"} {
			if strings.Contains(wardtest.WithoutTimes(body), s) {
				t.Errorf("GET %s still carries %q", u, s)
			}
		}
	}
}

// dataFiles lists the files under dir (none when it does not exist).
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// dataFilesWith names the files under dir that hold one of words. Files that vanish during the walk (a
// database's temporary files) are skipped.
func dataFilesWith(t *testing.T, dir string, words ...string) []string {
	t.Helper()
	var out []string
	for _, path := range dataFiles(t, dir) {
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				out = append(out, path+" has "+w)
			}
		}
	}
	return out
}
