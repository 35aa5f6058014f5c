//! [`Objects`]: kube's `Api<K>` for the built-in kinds, with every answer decoded through
//! [`Lean`].
//!
//! kube's `Api<K>` decodes each answer straight from its text into `K`, so every kind the
//! process reads or writes through it carries a decoder of its own from text, beside the one
//! from a JSON tree that the API server has for every kind anyway: together over a megabyte of
//! the binary (a `PodSpec` inside a Deployment, a ReplicaSet, a Job … is one such decoder per
//! kind). `Objects<K>` makes the same requests through one `Api<Lean>` and decodes the answer
//! into `K` from its tree, so the only decoder from text is `Lean`'s. Answers come without
//! `metadata.managedFields`, as the informers' objects do; nothing the loops, node agents or
//! app do with an answer reads them, and an update sent from one keeps the stored entries.

use std::fmt::Debug;
use std::marker::PhantomData;

use kube::api::{
    ApiResource, DeleteParams, GetParams, ListParams, ObjectList, Patch, PatchParams, PostParams,
};
use kube::core::Request;
use kube::{Api, Client, Error, Resource, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::watch::Lean;

/// The objects of kind `K` a client reaches, in one namespace or all: kube's `Api<K>`, with
/// the same methods and answers (each method is `Api<K>`'s of the same name), decoded
/// through [`Lean`]. Requests whose answer is not a `K` (evictions, bindings, scale, logs,
/// metadata-only lists) stay with kube's `Api<K>`.
pub struct Objects<K> {
    api: Api<Lean>,
    client: Client,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Objects<K> {
    fn clone(&self) -> Self {
        Self {
            api: self.api.clone(),
            client: self.client.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> Objects<K>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    /// Objects of every namespace, or cluster-scoped ones.
    pub fn all(client: Client) -> Self {
        let api = Api::all_with(client.clone(), &ApiResource::erase::<K>(&()));
        Self::of(api, client)
    }

    /// Objects of `namespace`.
    pub fn namespaced(client: Client, namespace: &str) -> Self {
        let api = Api::namespaced_with(client.clone(), namespace, &ApiResource::erase::<K>(&()));
        Self::of(api, client)
    }

    fn of(api: Api<Lean>, client: Client) -> Self {
        Self {
            api,
            client,
            kind: PhantomData,
        }
    }

    pub async fn get(&self, name: &str) -> Result<K> {
        decode(self.api.get(name).await?)
    }

    pub async fn get_with(&self, name: &str, params: &GetParams) -> Result<K> {
        decode(self.api.get_with(name, params).await?)
    }

    /// The object, or `None` when there is none of that name.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        self.api.get_opt(name).await?.map(decode).transpose()
    }

    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>>
    where
        K: Clone,
    {
        let list = self.api.list(params).await?;
        Ok(ObjectList {
            types: list.types,
            metadata: list.metadata,
            items: list.items.into_iter().map(decode).collect::<Result<_>>()?,
        })
    }

    pub async fn create(&self, params: &PostParams, object: &K) -> Result<K>
    where
        K: Serialize,
    {
        let body = serde_json::to_vec(object).map_err(Error::SerdeError)?;
        let request = self.request().create(params, body);
        self.send(request).await
    }

    pub async fn replace(&self, name: &str, params: &PostParams, object: &K) -> Result<K>
    where
        K: Serialize,
    {
        let body = serde_json::to_vec(object).map_err(Error::SerdeError)?;
        let request = self.request().replace(name, params, body);
        self.send(request).await
    }

    pub async fn replace_status(&self, name: &str, params: &PostParams, object: &K) -> Result<K>
    where
        K: Serialize,
    {
        self.replace_subresource("status", name, params, object)
            .await
    }

    /// Replaces the object through `subresource` (`status`, a Namespace's `finalize`).
    pub async fn replace_subresource(
        &self,
        subresource: &str,
        name: &str,
        params: &PostParams,
        object: &K,
    ) -> Result<K>
    where
        K: Serialize,
    {
        let body = serde_json::to_vec(object).map_err(Error::SerdeError)?;
        let request = self
            .request()
            .replace_subresource(subresource, name, params, body);
        self.send(request).await
    }

    pub async fn patch<P: Serialize + Debug>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K> {
        decode(self.api.patch(name, params, patch).await?)
    }

    pub async fn patch_status<P: Serialize + Debug>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K> {
        decode(self.api.patch_status(name, params, patch).await?)
    }

    /// Deletes the object, or starts its deletion (finalizers, a grace period). Nothing
    /// reads the server's answer, so it is not decoded into a `K`.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<()> {
        self.api.delete(name, params).await.map(drop)
    }

    fn request(&self) -> Request {
        Request::new(self.api.resource_url())
    }

    async fn send(
        &self,
        request: std::result::Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<K> {
        let request = request.map_err(Error::BuildRequest)?;
        decode(self.client.request::<Lean>(request).await?)
    }
}

/// `object` as a `K`: its fields decoded from their JSON tree, then its metadata moved in.
pub(crate) fn decode<K: Resource + DeserializeOwned>(Lean(object): Lean) -> Result<K> {
    let mut typed = K::deserialize(&object.data).map_err(Error::SerdeError)?;
    *typed.meta_mut() = object.metadata;
    Ok(typed)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http::{Request as HttpRequest, Response, StatusCode};
    use http_body_util::BodyExt;
    use k8s_openapi::api::core::v1::Pod;
    use kube::client::Body;
    use serde_json::{Value, json};

    use super::*;

    /// A request as the server saw it: method, path and query, content type, body.
    type Seen = (String, String, Option<String>, Vec<u8>);

    /// A test double of the API server: records each request and answers every one with
    /// `status` and `answer`.
    fn server(status: StatusCode, answer: Value) -> (Client, Arc<Mutex<Vec<Seen>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let service = tower::service_fn(move |request: HttpRequest<Body>| {
            let (log, answer) = (log.clone(), answer.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.unwrap().to_bytes().to_vec();
                let content_type = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .map(|value| value.to_str().unwrap().to_owned());
                log.lock().unwrap().push((
                    parts.method.to_string(),
                    parts.uri.to_string(),
                    content_type,
                    body,
                ));
                let answer = serde_json::to_vec(&answer).unwrap();
                Ok::<_, tower::BoxError>(
                    Response::builder()
                        .status(status)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Body::from(answer))
                        .unwrap(),
                )
            }
        });
        (Client::new(service, "default"), seen)
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
                         "resourceVersion": "7", "labels": {"app": "web"},
                         "managedFields": [{"manager": "kubectl", "operation": "Update",
                                            "fieldsType": "FieldsV1", "fieldsV1": {}}]},
            "spec": {"nodeName": "worker-1",
                     "containers": [{"name": "web", "image": "nginx"}]},
            "status": {"phase": "Running", "podIP": "10.244.1.5"},
        })
    }

    /// What kube's `Api<Pod>` decodes from `answer`, less its managed fields.
    fn typed(answer: &Value) -> Pod {
        let mut pod: Pod = serde_json::from_value(answer.clone()).unwrap();
        pod.metadata.managed_fields = None;
        pod
    }

    #[tokio::test]
    async fn each_request_is_kubes_and_each_answer_its_decoding_less_managed_fields() {
        let answer = pod();
        let expected = typed(&answer);
        let (client, by_kube) = server(StatusCode::OK, answer.clone());
        let kube_api = Api::<Pod>::namespaced(client, "shop");
        let (client, by_us) = server(StatusCode::OK, answer.clone());
        let objects = Objects::<Pod>::namespaced(client, "shop");

        let post = PostParams {
            dry_run: true,
            field_manager: Some("kubarium".into()),
        };
        let apply = Patch::Apply(json!({"metadata": {"labels": {"tier": "front"}}}));
        let forced = PatchParams::apply("kubarium").force();
        let strategic = Patch::Strategic(json!({"status": {"phase": "Succeeded"}}));
        let patched = PatchParams {
            field_manager: Some("kubelet".into()),
            ..PatchParams::default()
        };
        let body = typed(&answer);

        let answers = [
            objects.get("web").await.unwrap(),
            objects.get_opt("web").await.unwrap().unwrap(),
            objects.create(&post, &body).await.unwrap(),
            objects.replace("web", &post, &body).await.unwrap(),
            objects.replace_status("web", &post, &body).await.unwrap(),
            objects
                .replace_subresource("ephemeralcontainers", "web", &post, &body)
                .await
                .unwrap(),
            objects.patch("web", &forced, &apply).await.unwrap(),
            objects
                .patch_status("web", &patched, &strategic)
                .await
                .unwrap(),
        ];
        for answer in answers {
            assert_eq!(answer, expected);
        }
        objects
            .delete("web", &DeleteParams::foreground())
            .await
            .unwrap();

        kube_api.get("web").await.unwrap();
        kube_api.get_opt("web").await.unwrap();
        kube_api.create(&post, &body).await.unwrap();
        kube_api.replace("web", &post, &body).await.unwrap();
        kube_api.replace_status("web", &post, &body).await.unwrap();
        kube_api
            .replace_subresource("ephemeralcontainers", "web", &post, &body)
            .await
            .unwrap();
        kube_api.patch("web", &forced, &apply).await.unwrap();
        kube_api
            .patch_status("web", &patched, &strategic)
            .await
            .unwrap();
        kube_api
            .delete("web", &DeleteParams::foreground())
            .await
            .unwrap();

        let (by_kube, by_us) = (by_kube.lock().unwrap(), by_us.lock().unwrap());
        assert_eq!(by_us.len(), 9);
        for (ours, kubes) in by_us.iter().zip(by_kube.iter()) {
            assert_eq!(ours, kubes);
        }
    }

    #[tokio::test]
    async fn a_list_decodes_every_item_and_keeps_the_lists_metadata() {
        let list = json!({
            "apiVersion": "v1", "kind": "PodList",
            "metadata": {"resourceVersion": "42", "continue": "next"},
            "items": [pod(), pod()],
        });
        let (client, seen) = server(StatusCode::OK, list);
        let objects = Objects::<Pod>::all(client);
        let list = objects
            .list(&ListParams::default().labels("app=web").limit(2))
            .await
            .unwrap();
        assert_eq!(list.items, vec![typed(&pod()), typed(&pod())]);
        assert_eq!(list.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(list.metadata.continue_.as_deref(), Some("next"));
        assert_eq!(
            seen.lock().unwrap()[0].1,
            "/api/v1/pods?&labelSelector=app%3Dweb&limit=2"
        );
    }

    #[tokio::test]
    async fn a_missing_object_is_none_and_an_answer_of_another_shape_is_an_error() {
        let missing = json!({
            "apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": "pods \"web\" not found", "reason": "NotFound", "code": 404,
        });
        let (client, _) = server(StatusCode::NOT_FOUND, missing);
        let objects = Objects::<Pod>::namespaced(client, "shop");
        assert_eq!(objects.get_opt("web").await.unwrap(), None);
        let error = objects.get("web").await.unwrap_err();
        assert!(
            matches!(error, Error::Api(ref status) if status.code == 404),
            "{error}"
        );

        let wrong = json!({"metadata": {"name": "web"}, "spec": {"containers": "none"}});
        let (client, _) = server(StatusCode::OK, wrong);
        let error = Objects::<Pod>::namespaced(client, "shop")
            .get("web")
            .await
            .unwrap_err();
        assert!(matches!(error, Error::SerdeError(_)), "{error}");
    }
}
