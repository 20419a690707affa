//! The client-side-rendered build (`trunk build` / `trunk serve` in app/): the same app, with no
//! server rendering; trunk proxies the API and the sockets to a running mumu-server.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(mumu_app::App);
}
