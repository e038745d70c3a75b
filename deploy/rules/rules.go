// Package rules embeds citywatch's default alert rule pack, so the demo and a `serve` without rule files of
// its own have the quarantine-site and city rules wherever the binary runs.
package rules

import _ "embed"

// DefaultName is the rule pack's file name, used in file:line errors.
const DefaultName = "deploy/rules/citywatch-default.yaml"

// Default is the default rule pack (Prometheus rule-file format plus citywatch's event rules).
//
//go:embed citywatch-default.yaml
var Default string

// DemoName is the demo rule pack's file name.
const DemoName = "deploy/rules/citywatch-demo.yaml"

// Demo is the default pack on demo timescales (fever for 15 s, camera offline for 5 s, ...), for
// `citywatch demo`.
//
//go:embed citywatch-demo.yaml
var Demo string

// SelfName is the self-monitoring rule pack's file name.
const SelfName = "deploy/rules/citywatch-self.yaml"

// Self is the self-monitoring rule pack (IngestStalled, IngestSeriesLimit), added to every rule set; a rule of
// the same alert name in the loaded rules replaces the built-in one.
//
//go:embed citywatch-self.yaml
var Self string
