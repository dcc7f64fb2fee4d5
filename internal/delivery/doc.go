// Package delivery turns what arrives into what to do: it decodes every envelope an event can
// come in (CloudEvents in binary, structured and batch mode, Code Engine Kafka and cron
// subscriptions, Event Notifications, plain Activity Tracker JSON, a job's environment) into a
// Delivery, and classifies its Activity Tracker event into the object to converge. A cron tick
// is decoded as a tick; what a tick does is decided by the command that received it. Nothing
// here does I/O.
package delivery
