//! A client's call of a model endpoint: its body read and planned, admitted when the caller holds
//! an issued key, served, and — once the answer has ended, after the response has gone — settled
//! with what it used and recorded. Refusals are recorded too.

use super::incoming::Incoming;
use super::issued::{self, Ask, Refusal};
use super::outgoing::Outgoing;
use super::record::Recorder;
use super::task;
use super::upstream::{self, Served};
use super::{error_response, load_config, read_body, string_binding, Caller};
use crate::config::Config;
use crate::dialect::Endpoint;
use crate::error::ProxyError;
use crate::ir::Usage;
use crate::keys::Admission;
use crate::limits::Limits;
use crate::proxy::{self, Inbound};
use crate::usage::Record;
use futures_util::future::{select, Either};
use futures_util::FutureExt;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use worker::{Context, Env};

/// What a request of an issued key settles once its answer has ended.
struct Settlement {
    key: String,
    request: String,
    estimate: Usage,
}

pub async fn call(
    req: &Incoming,
    env: &Env,
    ctx: &Context,
    limits: &Limits,
    endpoint: Endpoint,
    query: &str,
    caller: Caller,
) -> Result<Outgoing, ProxyError> {
    let started = js_sys::Date::now();
    let recorder = Recorder::of(env).map(Rc::new);
    let dialect = endpoint.dialect;
    let metered = Metered { env, ctx, limits, caller: &caller, recorder: recorder.clone(), started };
    // Filled in only when something keeps it.
    let mut record = match metered.records() {
        true => Record {
            at_ms: started as u64,
            key_id: caller.record_id(),
            client: dialect.name().to_string(),
            endpoint: crate::usage::bounded(req.path()),
            ..Record::default()
        },
        false => Record::default(),
    };
    match metered.serve(req, endpoint, query, &mut record).await {
        Ok(response) => Ok(response),
        Err(refusal) => Ok(refused(refusal, record, recorder, ctx, dialect, started)),
    }
}

/// The client's answer to a call that was refused or failed, recorded. Not inlined: the code of
/// a refusal stays out of the function that serves every call, which the runtime compiles whole.
#[inline(never)]
fn refused(
    refusal: Refusal,
    mut record: Record,
    recorder: Option<Rc<Recorder>>,
    ctx: &Context,
    dialect: crate::dialect::Dialect,
    started: f64,
) -> Outgoing {
    let (error, headers) = match refusal {
        Refusal::Denied(denial) => (denial.error(), denial.headers()),
        Refusal::Failed(error) => (error, Vec::new()),
    };
    record.status = error.status;
    record.error = Some(error.code.clone().unwrap_or_else(|| format!("status {}", error.status)));
    record.ttfb_ms = (js_sys::Date::now() - started) as u64;
    record.total_ms = record.ttfb_ms;
    if let Some(recorder) = recorder {
        task::wait_until(ctx, async move { recorder.write(&record).await });
    }
    error_response(&error, dialect, &headers)
}

struct Metered<'a> {
    env: &'a Env,
    ctx: &'a Context,
    limits: &'a Limits,
    caller: &'a Caller,
    recorder: Option<Rc<Recorder>>,
    started: f64,
}

impl Metered<'_> {
    /// Whether the request's record is kept: written, or settled against an issued key. What the
    /// answer used is then wanted too.
    fn records(&self) -> bool {
        self.recorder.is_some() || matches!(self.caller, Caller::Issued(_))
    }

    async fn serve(
        &self,
        req: &Incoming,
        endpoint: Endpoint,
        query: &str,
        record: &mut Record,
    ) -> Result<Outgoing, Refusal> {
        let (env, limits) = (self.env, self.limits);
        let body = read_body(req, limits).await?;
        let config = load_config(env, limits).await?;
        let issued = match self.caller {
            Caller::Issued(caller) => Some(caller),
            _ => None,
        };
        let header = |name: &str| req.header(name);
        // Read only when a backend may need it.
        let own_key = config
            .backends
            .iter()
            .any(|backend| backend.byok)
            .then(|| {
                let static_keys = string_binding(env, "LLMPROXY_API_KEY");
                let needed = !matches!(self.caller, Caller::Anonymous);
                crate::auth::own_key(header, query, needed, |key| {
                    crate::auth::is_proxy_key(key, static_keys.as_deref())
                })
            })
            .flatten();
        let inbound = Inbound {
            dialect: endpoint.dialect,
            operation: endpoint.call.operation,
            model: endpoint.call.model.as_deref(),
            stream: endpoint.call.stream,
            framing: endpoint.call.framing,
            body: &body,
            query,
            header: &header,
            secret: &|name| string_binding(env, name),
            own_key: own_key.as_deref(),
            now: (js_sys::Date::now() / 1000.0) as u64,
            random: (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64,
            policy: issued.map(|caller| &caller.policy),
            metered: self.records(),
        };
        let plan = proxy::plan(&config, &inbound).inspect_err(|_| {
            if self.records() {
                record.model_asked = crate::usage::bounded(&proxy::requested_model(&inbound).unwrap_or_default());
            }
        })?;
        if self.records() {
            record.model_asked = plan.requested().to_string();
            record.streamed = plan.is_stream();
        }
        let serve = upstream::serve(&plan, &config.breaker, env, self.ctx, limits, Some(req));
        let Some(caller) = issued else {
            let served = serve.await?;
            return Ok(self.finish(served, std::mem::take(record), None, &config));
        };
        // Boxed, as `super::listing` is: the code of an issued key's admission stays out of the
        // function that serves a call.
        self.serve_issued(caller, &plan, serve, &config, record).boxed_local().await
    }

    /// Serves a call of an issued key: admitted (alongside the upstream call when the key's
    /// object is far), then settled once its answer has ended.
    async fn serve_issued(
        &self,
        caller: &issued::Caller,
        plan: &proxy::Plan<'_>,
        serve: impl Future<Output = Result<Served, ProxyError>>,
        config: &Rc<Config>,
        record: &mut Record,
    ) -> Result<Outgoing, Refusal> {
        let policy = &caller.policy;
        let estimate = match policy.tpm.is_some() || policy.budget_usd.is_some() {
            true => plan.estimate(config.reserved_output_tokens)?,
            false => Usage::default(),
        };
        let model = plan.chain.targets.first().map_or(plan.model(), |target| target.model.as_str());
        let request = request_id();
        let ask = Ask {
            asked: plan.requested(),
            model: plan.model(),
            request: &request,
            tokens: estimate.input_tokens.saturating_add(estimate.output_tokens),
            cost: config.prices.cost(model, &estimate).unwrap_or(0.0),
        };
        let admit = issued::admit(self.env, caller, ask);
        let (admission, served) = match caller.far {
            true => alongside(admit, serve).await?,
            false => {
                let admission = admit.await?;
                (admission, serve.await)
            }
        };
        let settlement = Settlement { key: caller.id.clone(), request, estimate };
        match served {
            Ok(served) => {
                let reply = self.finish(served, std::mem::take(record), Some(settlement), config);
                Ok(reply.with_all(&admission.headers()))
            }
            Err(error) => {
                let env = self.env.clone();
                task::wait_until(self.ctx, async move {
                    issued::settle(&env, &settlement.key, &settlement.request, 0, 0.0).await
                });
                Err(error.into())
            }
        }
    }

    /// The response goes now; what it used is settled and recorded once it has ended.
    fn finish(
        &self,
        served: Served,
        mut record: Record,
        settlement: Option<Settlement>,
        config: &Rc<Config>,
    ) -> Outgoing {
        let started = self.started;
        record.ttfb_ms = (js_sys::Date::now() - started) as u64;
        record.backend = served.backend;
        record.model_sent = served.model;
        record.status = served.status;
        record.attempts = served.attempts;
        record.error = served.error;
        let (usage, stream_end) = (served.usage, served.stream_end);
        if settlement.is_none() && self.recorder.is_none() {
            return served.response;
        }
        let (env, recorder, config) = (self.env.clone(), self.recorder.clone(), config.clone());
        task::wait_until(self.ctx, async move {
            let (usage, reported, error) = match stream_end {
                Some(end) => {
                    let summary = end.summary().await;
                    (summary.usage, summary.reported, summary.error)
                }
                None => (usage, usage.is_some(), None),
            };
            record.error = record.error.or(error);
            record.total_ms = (js_sys::Date::now() - started) as u64;
            record.usage_reported = reported;
            let mut usage = usage.unwrap_or_default();
            record.set_usage(&usage, &config.prices);
            if let Some(settlement) = settlement {
                // An answer cut before it said what its prompt was counts the estimate; a
                // refusal used nothing.
                if !reported && record.status < 400 && usage.input_tokens == 0 {
                    usage.input_tokens = settlement.estimate.input_tokens;
                }
                let cost = config.prices.cost(&record.model_sent, &usage).unwrap_or(0.0);
                let tokens = usage.input_tokens.saturating_add(usage.output_tokens);
                issued::settle(&env, &settlement.key, &settlement.request, tokens, cost).await;
            }
            if let Some(recorder) = recorder {
                recorder.write(&record).await;
            }
        });
        served.response
    }
}

/// The admission and the upstream call at once: a refusal that comes first ends the request; one
/// that comes after the answer cancels the answer, of which nothing has reached the client.
async fn alongside(
    admit: impl Future<Output = Result<Admission, Refusal>>,
    serve: impl Future<Output = Result<Served, ProxyError>>,
) -> Result<(Admission, Result<Served, ProxyError>), Refusal> {
    match select(pin!(admit), pin!(serve)).await {
        Either::Left((admitted, serve)) => Ok((admitted?, serve.await)),
        Either::Right((served, admit)) => match admit.await {
            Ok(admission) => Ok((admission, served)),
            Err(refusal) => {
                if let Ok(served) = served {
                    served.response.cancel();
                }
                Err(refusal)
            }
        },
    }
}

/// An id for a request's reservation; unique enough within a key's window, not a secret.
fn request_id() -> String {
    let draw = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{:08x}{:08x}{:08x}", draw(), draw(), js_sys::Date::now() as u64 & 0xffff_ffff)
}
