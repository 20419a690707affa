//! The small grey picture the detector looks at.

/// A grey (luma) picture, one byte per pixel, rows packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GreyPicture {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl GreyPicture {
    /// A `width` x `height` picture from its pixels, row after row; `None` if they do not fit.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Option<Self> {
        (width > 0 && height > 0 && pixels.len() == width * height).then_some(Self {
            width,
            height,
            pixels,
        })
    }

    /// A picture of one grey level.
    pub fn filled(width: usize, height: usize, level: u8) -> Self {
        Self {
            width,
            height,
            pixels: vec![level; width * height],
        }
    }

    /// Half the size each way, each pixel the mean of four: the camera's noise halves, and the
    /// detector's work quarters.
    pub fn halved(luma: &[u8], width: usize, height: usize) -> Option<Self> {
        if luma.len() != width * height || width < 2 || height < 2 {
            return None;
        }
        let (w, h) = (width / 2, height / 2);
        let mut pixels = Vec::with_capacity(w * h);
        for y in 0..h {
            let top = &luma[2 * y * width..][..width];
            let bottom = &luma[(2 * y + 1) * width..][..width];
            for x in 0..w {
                let sum = u16::from(top[2 * x])
                    + u16::from(top[2 * x + 1])
                    + u16::from(bottom[2 * x])
                    + u16::from(bottom[2 * x + 1]);
                pixels.push(((sum + 2) / 4) as u8);
            }
        }
        Self::new(w, h, pixels)
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row after row.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixels, to draw on (tests).
    pub fn pixels_mut(&mut self) -> &mut [u8] {
        &mut self.pixels
    }

    /// Paints the rectangle `x0..x1`, `y0..y1` (clipped) with `level`.
    pub fn fill_rect(&mut self, (x0, y0): (usize, usize), (x1, y1): (usize, usize), level: u8) {
        for y in y0.min(self.height)..y1.min(self.height) {
            let row = &mut self.pixels[y * self.width..][..self.width];
            row[x0.min(self.width)..x1.min(self.width)].fill(level);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_each_block_of_four() {
        let luma = [0, 4, 10, 10, 8, 4, 10, 10];
        let half = GreyPicture::halved(&luma, 4, 2).unwrap();
        assert_eq!((half.width(), half.height()), (2, 1));
        assert_eq!(half.pixels(), [4, 10]);
        assert!(GreyPicture::halved(&luma, 4, 3).is_none());
    }
}
