package config

// maxMaxDevices bounds ingest.max_devices: each device costs about a kilobyte of memory in the registry.
const maxMaxDevices = 10_000_000

// validateIngestDevices checks the device registry's bound and save interval.
func (c *Config) validateIngestDevices(v validator) {
	in := &c.Ingest
	if in.MaxDevices <= 0 || in.MaxDevices > maxMaxDevices {
		v.add("ingest.max_devices", "must be between 1 and %d; got %d", maxMaxDevices, in.MaxDevices)
	}
	if in.DeviceSaveInterval <= 0 {
		v.add("ingest.device_save_interval", "must be > 0; got %s", quote(in.DeviceSaveInterval.String()))
	}
}
