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

// BenchmarkDeviceStoreSave measures one save (ns/op and cpu-ns/op are per save) of a registry of 166,667
// devices (a million series at six fields), after 1 % of them or every one of them changed since the last
// save: the second is a million series when each device sends about once a minute. cpu-ns/device is the CPU
// per device that changed.
func BenchmarkDeviceStoreSave(b *testing.B) {
	const devices = 166_667
	for _, c := range []struct {
		name    string
		changed int
	}{{"changed=1%", devices / 100}, {"changed=100%", devices}} {
		b.Run(c.name, func(b *testing.B) {
			db := filepath.Join(b.TempDir(), "citywatch.db")
			p, s, _ := newDeviceStore(b, db, PipelineConfig{MaxDevices: 2 * devices})
			s.cfg.BatchRows = 2000
			now := time.Now()
			res := benchDevices(devices)
			touch := func(round, n int) {
				for i := range n {
					// A stride through the devices, so that the changed ones are spread as a real fleet's are.
					k := ((round*n + i) * 7919) % devices
					p.devices.seen(&res[k], now.Add(time.Duration(round)*time.Minute+time.Duration(i)), false)
				}
			}
			touch(0, devices)
			require.NoError(b, s.Flush(context.Background()))
			b.ResetTimer()
			var cpu int64
			for n := range b.N {
				b.StopTimer()
				touch(n+1, c.changed)
				b.StartTimer()
				c0 := processCPU()
				require.NoError(b, s.Flush(context.Background()))
				cpu += processCPU() - c0
			}
			// CPU, not wall time: the figure to compare on a machine other processes load.
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(cpu)/float64(b.N)/float64(c.changed), "cpu-ns/device")
		})
	}
}

// benchDevices returns n devices' messages of six fields each, labelled by district, site and device.
func benchDevices(n int) []mapping.Result {
	res := make([]mapping.Result, n)
	for i := range res {
		id := "d" + strconv.Itoa(i%10) + "/site" + strconv.Itoa(i%50) + "/dev" + strconv.Itoa(i)
		ls := []store.Label{{Name: "device", Value: "dev" + strconv.Itoa(i)}, {Name: "district", Value: "d" + strconv.Itoa(i%10)},
			{Name: "site", Value: "site" + strconv.Itoa(i%50)}}
		res[i] = mapping.Result{Device: id, DeviceLabels: ls, Samples: []store.Sample{
			{Name: "temperature", Labels: ls, V: 20}, {Name: "humidity", Labels: ls, V: 50}, {Name: "co2", Labels: ls, V: 400},
			{Name: "pm25", Labels: ls, V: 5}, {Name: "battery", Labels: ls, V: 90}, {Name: "rssi", Labels: ls, V: -60}}}
	}
	return res
}

// BenchmarkDeviceStoreRestore measures the restore of 166,667 saved devices into an empty registry, part of the
// cold start before /readyz (ns/op and cpu-ns/op are per restore).
func BenchmarkDeviceStoreRestore(b *testing.B) {
	const devices = 166_667
	path := filepath.Join(b.TempDir(), "citywatch.db")
	p, s, _ := newDeviceStore(b, path, PipelineConfig{MaxDevices: devices})
	now := time.Now()
	res := benchDevices(devices)
	for i := range res {
		p.devices.seen(&res[i], now.Add(time.Duration(i)), false)
	}
	require.NoError(b, s.Flush(context.Background()))
	b.ResetTimer()
	var cpu int64
	for range b.N {
		b.StopTimer()
		_, s2, _ := newDeviceStore(b, path, PipelineConfig{MaxDevices: devices})
		b.StartTimer()
		c0 := processCPU()
		n, err := s2.Restore(context.Background())
		cpu += processCPU() - c0
		require.NoError(b, err)
		require.Equal(b, devices, n)
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
