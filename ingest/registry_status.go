package ingest

// DeviceRegistry reports the device registry's size, bound, limit policy, evictions and persistence.
func (p *Pipeline) DeviceRegistry() RegistryStatus { return p.devices.status() }
