//! The C side of L3: `tc_loader_fn`, the `tc_sink` it answers through, and
//! `tc_cache_set_loader`.

use std::ffi::c_void;
use std::sync::Arc;

use super::boundary::{arg_mut, guard, value_bytes, RawStatus};
use super::cache::tc_cache;
use super::handle::calling_out;
use crate::error::{tc_status, Error, Status};
use crate::loader::{Loaded, Loader};
use crate::meta::Meta;

/// Where a loader puts the value it found: an opaque object that lives only
/// for the duration of one loader call.
#[allow(non_camel_case_types)]
pub struct tc_sink {
    value: Option<(Vec<u8>, u64, Option<Meta>)>,
    max_value_len: u64,
}

impl tc_sink {
    /// Takes the loader's answer, once.
    fn give(&mut self, value: &[u8], ttl_ms: u64, meta: Option<Meta>) -> crate::error::Result<()> {
        if self.value.is_some() {
            return Err(Error::invalid("sink: a value was already given for this load"));
        }
        crate::options::check_value_len(value.len(), self.max_value_len)?;
        self.value = Some((value.to_vec(), ttl_ms, meta));
        Ok(())
    }
}

/// A loader: called on a miss with the key, from the thread that missed,
/// with no lock held (it may call back into the same cache, for other keys).
/// It answers by calling `tc_sink_put` once and returning `TC_OK`, or returns
/// `TC_NOT_FOUND` (no such value), or any other status (failure: nothing is
/// cached and the caller gets `TC_LOADER_FAILED`). It may be called from many
/// threads at once, for different keys.
#[allow(non_camel_case_types)]
pub type tc_loader_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, key: *const u8, key_len: usize, sink: *mut tc_sink) -> RawStatus,
>;

/// A user data destructor.
#[allow(non_camel_case_types)]
type tc_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Gives the loader's answer: the value (copied) and its TTL in milliseconds
/// (0: the cache's default TTL). Call it at most once per loader call, from
/// inside that call.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `sink` or `value` is NULL or a
/// value was already given; `TC_TOO_LARGE` if the value is over the cache's
/// maximum (the load then fails).
///
/// # Safety
/// `sink` is NULL or the sink passed to the running loader call; `value` is
/// NULL or valid for `value_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tc_sink_put(sink: *mut tc_sink, value: *const u8, value_len: usize, ttl_ms: u64) -> tc_status {
    guard("tc_sink_put", || {
        let sink = arg_mut(sink, "sink")?;
        let value = value_bytes(value, value_len)?;
        sink.give(value, ttl_ms, None)
    })
}

/// Like `tc_sink_put`, with the entry options of `o` (TTL, tags, file
/// dependency; `o` stays the caller's). The loader may build the options
/// in the call or keep one set for every load.
///
/// Returns as `tc_sink_put`, and `TC_INVALID_ARGUMENT` if `o` is NULL.
///
/// # Safety
/// As `tc_sink_put`; `o` is NULL or a live entry options object.
#[no_mangle]
pub unsafe extern "C" fn tc_sink_put_with(
    sink: *mut tc_sink,
    value: *const u8,
    value_len: usize,
    o: *const super::entries::tc_entry_options,
) -> tc_status {
    guard("tc_sink_put_with", || {
        let sink = arg_mut(sink, "sink")?;
        let value = value_bytes(value, value_len)?;
        let o = super::boundary::arg(o, "o")?;
        sink.give(value, o.ttl_ms, Some(o.meta.clone()))
    })
}

/// A C loader and its user data, owned by the cache (or, for one call of
/// `tc_get_or_load`, borrowed: no destructor).
pub(crate) struct CLoader {
    func: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut tc_sink) -> RawStatus,
    user_data: *mut c_void,
    free: tc_free_fn,
    max_value_len: u64,
    /// The handle it was given to (`tc_cache::id`): the loader and the
    /// destructor run inside calls on it (`handle::calling_out`).
    handle: usize,
}

// SAFETY: the caller of `tc_cache_set_loader` promises that the loader may be
// called from any thread, and the destructor run on any thread.
unsafe impl Send for CLoader {}
unsafe impl Sync for CLoader {}

impl CLoader {
    /// A loader for one call, whose user data stays the caller's.
    pub(crate) fn borrowed(
        func: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut tc_sink) -> RawStatus,
        user_data: *mut c_void,
        max_value_len: u64,
        handle: &tc_cache,
    ) -> CLoader {
        CLoader {
            func,
            user_data,
            free: None,
            max_value_len,
            handle: handle.id(),
        }
    }
}

impl Loader for CLoader {
    fn load(&self, key: &[u8]) -> Loaded {
        let mut sink = tc_sink {
            value: None,
            max_value_len: self.max_value_len,
        };
        // SAFETY: the function and user data were registered together for
        // exactly this call; the key and sink outlive the call.
        let status = calling_out(self.handle, || unsafe {
            (self.func)(self.user_data, key.as_ptr(), key.len(), &mut sink)
        });
        match (Status::from_u32(status.0), sink.value) {
            (Some(Status::TC_OK), Some((value, ttl_ms, None))) => Loaded::Value { value, ttl_ms },
            (Some(Status::TC_OK), Some((value, ttl_ms, Some(meta)))) => Loaded::Entry { value, ttl_ms, meta },
            (Some(Status::TC_OK), None) => {
                Loaded::Failed("the loader returned TC_OK without calling tc_sink_put".into())
            }
            (Some(Status::TC_NOT_FOUND), _) => Loaded::NotFound,
            (Some(s), _) => Loaded::Failed(format!("the loader returned {s:?} ({})", s.describe())),
            (None, _) => Loaded::Failed(format!("the loader returned {}, which is not a tc_status", status.0)),
        }
    }
}

impl Drop for CLoader {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the destructor was registered for this user data, and
            // this runs once, after the last call of the loader.
            calling_out(self.handle, || unsafe { free(self.user_data) });
        }
    }
}

/// Sets the cache's loader, replacing any earlier one (whose user data is
/// freed by its destructor once no call of it is running). A NULL `loader`
/// removes the loader; `user_data` is then freed at once if a destructor is
/// given. The library owns `user_data` only if `free_user_data` is not NULL,
/// and calls it exactly once: when the loader is replaced or the cache closes.
///
/// Thread safety: the loader and the destructor may be called from any
/// thread, the loader from several at once for different keys.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `cache` is NULL; `TC_CLOSED`
/// if the handle was shut down or inherited across `fork()`. On any failure
/// the destructor is not called: `user_data` stays the caller's.
///
/// # Safety
/// `cache` is NULL or a live handle; `loader` and `free_user_data` are NULL
/// or valid functions for as long as the cache may call them.
#[no_mangle]
pub unsafe extern "C" fn tc_cache_set_loader(
    cache: *mut tc_cache,
    loader: tc_loader_fn,
    user_data: *mut c_void,
    free_user_data: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
) -> tc_status {
    guard("tc_cache_set_loader", || {
        let c = super::cache::handle(cache)?;
        let id = (*cache).id();
        let new: Option<Arc<dyn Loader>> = match loader {
            Some(func) => Some(Arc::new(CLoader {
                func,
                user_data,
                free: free_user_data,
                max_value_len: c.max_value_len(),
                handle: id,
            })),
            None => {
                if let Some(free) = free_user_data {
                    calling_out(id, || free(user_data));
                }
                None
            }
        };
        c.set_loader(new);
        Ok(())
    })
}
