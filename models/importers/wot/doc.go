// Package wot imports W3C Web of Things Thing Descriptions and Thing Models
// (TD 1.1, JSON-LD) into fieldgate model documents.
//
// It owns the mapping from a TD's properties and actions, their DataSchemas
// and their forms, to a models.Document: Modbus forms as the W3C Modbus binding
// template writes them (modbus+tcp:// hrefs and the modv: terms) and CoAP forms
// as the CoAP binding template writes them (coap:// hrefs, cov:method,
// contentType, cov:observe), with a human-readable warning for everything the
// TD says that the model does not carry (events, HTTP forms, output schemas,
// security schemes, ...).
//
// It must not do I/O, log, resolve links (tm:extends, tm:ref) or compile
// models beyond validating the result; it never guesses silently: anything it
// cannot map exactly is either an error naming the JSON path and value, or a
// skipped affordance with a warning, and every inference it does make (a Modbus
// data type from the DataSchema, 1-based addresses by the binding template's
// default) is stated in a warning.
package wot
