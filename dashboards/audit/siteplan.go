package audit

// The site plans' audited actions (package siteplan). Their target is the item placed ("camera cam1") or the
// image ("image 1600×900").
const (
	// SitePlanImage is an upload (or a rejected upload) of a site's floor-plan image.
	SitePlanImage Action = "site_plan_image"
	// SitePlanPlace places or moves a device or camera on a site's plan.
	SitePlanPlace Action = "site_plan_place"
	// SitePlanRemove takes a device or camera off a site's plan.
	SitePlanRemove Action = "site_plan_remove"
)

// sitePlanActions are the site plans' actions, part of Actions.
var sitePlanActions = []Action{SitePlanImage, SitePlanPlace, SitePlanRemove}
