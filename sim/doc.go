// Package sim holds the simulators behind `citywatch simulate` and `citywatch demo`.
//
// The sensor simulator publishes realistic, smoothly varying readings from a configurable fleet of devices
// (quarantine-room sensors, patient wearables, air-quality stations, river level gauges) on the default MQTT
// topics of the design contract, `city/{district}/{site}/{device}`, as JSON objects whose fields are the
// contract metric names. Every message also carries "seq", a per-device counter starting at 1, so a receiver
// can measure loss, and "ts", the reading time in unix milliseconds.
//
// The generator (NewSensorGenerator, Generator.Next) is separate from the publisher (Sensors.Run) so tests
// and load generators can produce the exact same payloads for a seed without a broker.
package sim
