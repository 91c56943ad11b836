// Package amocrm connects paysync to amoCRM (Kommo): a client for API v4
// (long-lived or rotating OAuth tokens, a strict limiter of 7 requests in any
// second, amoCRM's problem+json errors classified with their fixes), and the
// CRM connector that keeps one lead per order, with its contact, moving
// forward through the shop's pipeline as payments are verified.
package amocrm

// Name is the connector's name in config, the outbox and links.
const Name = "amocrm"
