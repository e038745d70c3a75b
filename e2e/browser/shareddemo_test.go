package browser_test

import (
	"os"
	"sync"
	"testing"
	"time"

	"citywatch/internal/testenv"
)

// sharedAdmin is the demo most of the package's tests share (sharedAdminDemo); TestMain stops it.
var sharedAdmin struct {
	mu     sync.Mutex
	d      *demo // nil until a test asks; its password is "" when it failed to get ready
	askers map[string]bool
}

// sharedAdminDemo returns the package's shared `citywatch demo` (live ping every second, camera control on),
// started by the first test that asks. Call it before t.Parallel: the first demo test starts it before it
// waits for its turn, so the demo's real-time schedule (a fever from about 30 s, a silent device from 40 s,
// the camera faults) runs while the package starts, and a test that comes later finds what it waits for
// already there. One demo instead of one per test also leaves the machine's cores to the browsers.
//
// The tests that share it change the demo only where no other of them looks: each signs in its own users
// (names of its own), TestOperatorScreen acknowledges the Fever alert and one other alert (not one of
// drivenCamera's), TestAlertNoiseAndEvidence drives drivenCamera and acknowledges its flapping alert,
// TestSitePlanAndMap puts a plan on q-hotel-1 with the fever wearable on it, TestWardPhoneManualEntry enters
// the missed round of the room without a wearable. A test that would disturb the others runs its own demo
// (startDemo): TestStaleIsNotLive freezes it, TestWardRoomsOnPlan needs the same missed round, TestDashboard
// acknowledges and silences whatever fires first.
func sharedAdminDemo(t *testing.T) *demo {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: builds citywatch and runs chromium")
	}
	testenvChromium(t)
	bin := buildCitywatch(t)
	sharedAdmin.mu.Lock()
	defer sharedAdmin.mu.Unlock()
	// Under -count=N the package's tests run N rounds, one after another: a test that asks again starts the
	// next round, which gets a new demo (the last one's Fever is acknowledged, its missed round entered).
	if sharedAdmin.askers[t.Name()] {
		stopSharedDemoLocked()
	}
	if sharedAdmin.askers == nil {
		sharedAdmin.askers = map[string]bool{}
	}
	sharedAdmin.askers[t.Name()] = true
	if sharedAdmin.d == nil {
		dir, err := os.MkdirTemp(shared.dir, "demo-")
		if err != nil {
			t.Fatal(err)
		}
		control := testenv.FreePort(t)
		d, args := demoArgs(t, dir, "--live-ping-interval", "1s", "--camera-control", control)
		if d.Process, err = testenv.StartDetached(bin, demoEnv, args...); err != nil {
			t.Fatal(err)
		}
		d.control = control
		sharedAdmin.d = d // stopped by TestMain, even when it never gets ready
		d.waitReady(t)
	}
	if sharedAdmin.d.password == "" {
		t.Fatal("the shared demo did not start (the first test that asked for it says why)")
	}
	d := *sharedAdmin.d
	d.t = t
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared demo %s output:\n%s", d.base, d.Out.String())
		}
	})
	return &d
}

// stopSharedDemo stops the shared demo, if a test started it.
func stopSharedDemo() {
	sharedAdmin.mu.Lock()
	defer sharedAdmin.mu.Unlock()
	stopSharedDemoLocked()
}

func stopSharedDemoLocked() {
	if d := sharedAdmin.d; d != nil {
		if d.Stop(30*time.Second) != nil {
			d.Kill()
		}
	}
	sharedAdmin.d, sharedAdmin.askers = nil, nil
}

// newSharedAdmin is sharedAdminDemo, then t.Parallel, then chromium signed in as admin on it.
func newSharedAdmin(t *testing.T) (*demo, *browser) {
	t.Helper()
	d := sharedAdminDemo(t)
	t.Parallel()
	b := newBrowser(t, d.base)
	b.login("admin", d.password)
	return d, b
}
