package rules

import _ "embed"

// WardName is the ward rule pack's file name.
const WardName = "deploy/rules/citywatch-ward.yaml"

// Ward is the ward rule pack (WardRoundMissed, WearableRemoved, PossibleLeave) on the series of package ward,
// added to every rule set; a rule of the same alert name in the loaded rules replaces the built-in one.
//
//go:embed citywatch-ward.yaml
var Ward string
