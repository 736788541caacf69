// Package queue runs prep's batch on many machines over NATS JetStream:
// any number of workers (Worker) take the rows of submitted manifests
// (Submit) from a work-queue stream and run the batch's own stages —
// prepare (inspect + transcode, once per distinct recording), upload (once
// per destination), send (once per row) — with every state that matters in
// JetStream, nothing on a worker's disk:
//
//   - Rows: a KV bucket, one key per manifest row (the batch name and the
//     row's content key, exactly as the local journal keys rows). Every
//     change is a compare-and-set on the key's revision. A row goes
//     "sending", under the worker's id and a fresh attempt id, before its
//     request leaves — the KV write is acknowledged by JetStream first, as
//     the journal's "sending" record is fsync'd first — and "sent",
//     "failed" or "unknown" after. A row found "sending" under a worker
//     that is gone is "unknown" and is never sent again unless the batch is
//     resubmitted with ResendUnknown.
//   - Work: a work-queue stream with one message per row to do, explicit
//     acks, a bounded number of deliveries, and an ack wait that workers
//     extend with InProgress while a row waits for a long transcode. A
//     message is acked only once its row's outcome is stored, so what a
//     dead worker held is delivered again.
//   - Recordings: a KV bucket keyed by content (SHA-256 + profile). A
//     worker claims a recording by compare-and-set before it fetches,
//     transcodes and uploads it to every destination the batch wants, and
//     stores the media ids and URLs there; other workers wait for the
//     result, or take the claim over when its holder is gone. The entries
//     expire after MediaTTL, so they are also the media-id cache shared by
//     every worker and every batch. A media id of Meta or 360dialog is
//     usable only by the account that uploaded it, so media are kept per
//     destination and account (Stages.MediaAccount: "meta@ACCOUNT"), and a
//     worker uploads once for its own account what another account's
//     worker uploaded; link URLs are not account-bound and shared by all.
//     Media kept by destination alone (before accounts) are not used.
//   - Workers: a KV bucket of liveness keys with a TTL, refreshed by each
//     worker's heartbeat; a claim or a "sending" row whose worker key is
//     gone belongs to a dead worker.
//   - Rates: a token bucket per provider account in KV, taken by
//     compare-and-set in small leases, so the per-account message rate
//     holds for all workers together.
//
// Sources are local paths (single machine) or s3://bucket/key objects,
// read with the environment's S3 settings, streamed and size-capped.
package queue
