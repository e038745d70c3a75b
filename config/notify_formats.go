package config

// NotifyFormats are the receiver formats notify.receivers[].format accepts, in the order error messages list
// them. Package notify implements one integration per format, and its tests fail when the two lists differ
// or an integration is not run through the shared kit (notifytest).
var NotifyFormats = []string{NotifyFormatCitywatch, NotifyFormatAlertmanager, NotifyFormatAlertmanagerAPI,
	NotifyFormatSlack, NotifyFormatTeams, NotifyFormatTeamsMessageCard, NotifyFormatTelegram, NotifyFormatZalo,
	NotifyFormatTemplate, NotifyFormatMQTT}
