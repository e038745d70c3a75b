package main

import "flag"

// flagValues are the values of every flag of fs, set or defaulted, by name: what /api/v1/status/flags shows,
// as Prometheus shows its own flags.
func flagValues(fs *flag.FlagSet) map[string]string {
	out := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { out[f.Name] = f.Value.String() })
	return out
}
