//! Integration tests: the real router over real HTTP on loopback, against real storage.
//! Every test runs on SQLite, and on PostgreSQL too when `STAGECOACH_TEST_POSTGRES_URL` is
//! set; each gets a database (SQLite file or PostgreSQL schema) of its own.

#[macro_use]
mod support;

mod agents;
mod ai;
mod auth;
mod bench;
mod channels;
mod chatvolt_crm;
mod cli;
mod crash;
mod dbtools;
mod docs;
mod engine;
mod hardening;
mod health;
mod idempotency;
mod inbox;
mod live;
mod metrics;
mod model;
mod openapi;
mod reports;
mod retention;
mod scenarios;
mod schema;
mod scopes;
mod step_editor;
mod steps;
mod telecrm;
mod tenancy;
mod texter;
mod web;
mod webhooks;
