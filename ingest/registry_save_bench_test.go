package ingest

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/ingest/mapping"
	"citywatch/store"
)

// BenchmarkDeviceStoreSave measures one save of a registry whose every device changed since the last save, as
// at a million series when each of 166,667 devices sends about once a minute: the cost per device saved
// (ns/op is per device).
func BenchmarkDeviceStoreSave(b *testing.B) {
	const devices = 50000
	db := filepath.Join(b.TempDir(), "citywatch.db")
	p, s, _ := newDeviceStore(b, db, PipelineConfig{MaxDevices: 2 * devices})
	s.cfg.BatchRows = 2000
	now := time.Now()
	res := make([]mapping.Result, devices)
	for i := range res {
		id := "d" + strconv.Itoa(i%10) + "/site" + strconv.Itoa(i%50) + "/dev" + strconv.Itoa(i)
		ls := []store.Label{{Name: "device", Value: "dev" + strconv.Itoa(i)}, {Name: "district", Value: "d" + strconv.Itoa(i%10)},
			{Name: "site", Value: "site" + strconv.Itoa(i%50)}}
		res[i] = mapping.Result{Device: id, DeviceLabels: ls, Samples: []store.Sample{
			{Name: "temperature", Labels: ls, V: 20}, {Name: "humidity", Labels: ls, V: 50}, {Name: "co2", Labels: ls, V: 400},
			{Name: "pm25", Labels: ls, V: 5}, {Name: "battery", Labels: ls, V: 90}, {Name: "rssi", Labels: ls, V: -60}}}
	}
	touch := func(round int) {
		for i := range res {
			p.devices.seen(&res[(i*7919)%devices], now.Add(time.Duration(round)*time.Minute+time.Duration(i)), false)
		}
	}
	touch(0)
	require.NoError(b, s.Flush(context.Background()))
	b.ResetTimer()
	var cpu int64
	for n := 0; n < b.N; n += devices {
		b.StopTimer()
		touch(n/devices + 1)
		b.StartTimer()
		c0 := processCPU()
		require.NoError(b, s.Flush(context.Background()))
		cpu += processCPU() - c0
	}
	// CPU, not wall time: the figure to compare on a machine other processes load.
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
