//! Chatvolt's CRM API: scenarios, steps, boards, conversations, contacts and agents, with
//! Chatvolt's paths, bodies and answers. Errors: see [`error`].

mod agents;
mod board;
mod contact_variables;
mod contacts;
mod conversations;
mod crm_log;
pub(crate) mod error;
mod export;
mod extract;
mod logs;
mod notes;
mod query;

mod scenarios;
mod steps;
mod tags;
mod whatsapp;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            scenarios::list,
            scenarios::create,
            scenarios::update,
            scenarios::delete
        ))
        .routes(routes!(
            steps::list,
            steps::create,
            steps::update,
            steps::delete
        ))
        .routes(routes!(board::add))
        .routes(routes!(board::move_conversation))
        .routes(routes!(board::list, board::remove))
        .routes(routes!(crm_log::count))
        .routes(routes!(crm_log::events))
        .routes(routes!(logs::list, logs::create))
        .routes(routes!(
            logs::get,
            logs::replace,
            logs::update,
            logs::delete
        ))
        .routes(routes!(conversations::list))
        .routes(routes!(export::history))
        .routes(routes!(export::export))
        .routes(routes!(export::export_one))
        .routes(routes!(conversations::get, conversations::delete))
        .routes(routes!(conversations::set_status))
        .routes(routes!(conversations::set_priority))
        .routes(routes!(conversations::set_ai_enabled))
        .routes(routes!(conversations::assign))
        .routes(routes!(conversations::unassign))
        .routes(routes!(conversations::register_message))
        .routes(routes!(conversations::send_message))
        .routes(routes!(whatsapp::template_message))
        .routes(routes!(whatsapp::list_templates, whatsapp::create_template))
        .routes(routes!(conversations::messages))
        .routes(routes!(tags::list, tags::add))
        .routes(routes!(notes::list, notes::create))
        .routes(routes!(notes::update, notes::delete))
        .routes(routes!(contacts::list, contacts::save))
        .routes(routes!(
            contact_variables::list,
            contact_variables::create,
            contact_variables::update,
            contact_variables::delete
        ))
        .routes(routes!(contacts::delete))
        .routes(routes!(agents::create))
        .routes(routes!(agents::get, agents::update, agents::delete))
        .routes(routes!(query::query))
}
