package ingest

import "citywatch/config"

// DeviceStoreFromConfig is the device registry store's view of the ingest section (device_save_interval).
// BatchRows has no key. A test in app fails when a field of DeviceStoreConfig is reached by no key and is
// not listed as deliberately internal.
func DeviceStoreFromConfig(in config.IngestConfig) DeviceStoreConfig {
	return DeviceStoreConfig{FlushInterval: in.DeviceSaveInterval.Std()}
}
