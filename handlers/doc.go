// Package handlers answers deliveries: it hands each decoded event's object to the converger,
// filters duplicates, and answers with one log line per event and the status the sender acts on,
// over HTTP (serve) or as a job's exit code. Decoding and classifying are package delivery's; what
// a cron tick does is the caller's (serve, job, replay), given as a function.
package handlers
