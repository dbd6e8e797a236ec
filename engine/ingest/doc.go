// Package ingest turns accepted notifications into Remediation records: it
// matches each firing alert against the rules, builds one record per match
// (NewRecord), named by its episode (RecordName, EpisodeKey) so that creating
// it is the exactly-once gate across replicas, and cancels the waiting records
// of resolved alerts. Every replica ingests; a cache of recently seen
// episodes keeps re-sends from costing API calls.
package ingest
