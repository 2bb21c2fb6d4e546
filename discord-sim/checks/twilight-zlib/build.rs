//! Tells the shared twilight checks which transport compression twilight uses in this build.

fn main() {
    println!("cargo:rustc-env=DISCORD_SIM_EXPECT_COMPRESSION=zlib-stream");
}
